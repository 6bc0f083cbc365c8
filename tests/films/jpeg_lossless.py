"""A tiny JPEG lossless (process 14, selection value 1) encoder: no Python package writes this format,
and DICOM archives are full of it, so the tests build their own real files with it.

ITU-T T.81 H.1: predict each sample from its left neighbour (the row above for the first column,
2**(P-1) for the first sample), Huffman-code the difference category, then append the raw bits.
The Huffman table is deliberately plain: all 17 categories get 5-bit codes.
"""

from __future__ import annotations

import struct

import numpy as np


def encode_lossless_sv1(image: np.ndarray, precision: int) -> bytes:
    """Encode a 2-D unsigned image (2 <= precision <= 16 bits) as a lossless JPEG codestream."""
    h, w = image.shape
    x = image.astype(np.int64)
    pred = np.empty_like(x)
    pred[0, 0] = 1 << (precision - 1)
    pred[0, 1:] = x[0, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[1:, 1:] = x[1:, :-1]
    diff = ((x - pred + 32768) % 65536 - 32768).ravel()  # differences are modulo 2**16
    magnitude = np.abs(diff)
    ssss = np.zeros_like(diff)
    nonzero = magnitude > 0
    ssss[nonzero] = np.floor(np.log2(magnitude[nonzero])).astype(np.int64) + 1
    extra = np.where(diff >= 0, diff, diff - 1) & ((1 << ssss) - 1)
    extra[ssss == 16] = 0  # category 16 (difference 32768) carries no extra bits
    extra_len = np.where(ssss == 16, 0, ssss)
    value = (ssss << extra_len) | extra  # 5-bit code (= category) then the extra bits
    length = 5 + extra_len
    width = int(length.max())
    shifts = length[:, None] - 1 - np.arange(width)[None, :]
    bits = (value[:, None] >> np.clip(shifts, 0, None)) & 1
    stream = bits[shifts >= 0].astype(np.uint8)
    stream = np.concatenate([stream, np.ones((-len(stream)) % 8, np.uint8)])  # pad with 1-bits
    packed = np.packbits(stream)
    ff = np.flatnonzero(packed == 0xFF)
    scan = np.insert(packed, ff + 1, 0).tobytes()  # byte stuffing after each 0xFF

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">HH", marker, len(payload) + 2) + payload

    sof3 = segment(0xFFC3, struct.pack(">BHHB", precision, h, w, 1) + bytes([1, 0x11, 0]))
    dht = segment(0xFFC4, bytes([0x00]) + bytes([0, 0, 0, 0, 17] + [0] * 11) + bytes(range(17)))
    sos = segment(0xFFDA, bytes([1, 1, 0x00, 1, 0, 0]))  # Ns=1, Cs=1, Td/Ta=0, Ss=1 (predictor), Se=0, Pt=0
    return b"\xff\xd8" + sof3 + dht + sos + scan + b"\xff\xd9"
