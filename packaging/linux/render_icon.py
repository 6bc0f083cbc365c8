"""Render io.github.xrayviewer.svg to the 256 px PNG beside it (Qt's SVG renderer, works offscreen).

Run after editing the SVG: python packaging/linux/render_icon.py  (the PNG is committed, so neither the
build nor the install needs Qt's SVG module or a display).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVG = HERE / "io.github.xrayviewer.svg"


def render(size: int = 256, out: Path | None = None) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # QPainter on QImage needs one
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"invalid SVG: {SVG}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    out = out or HERE / f"io.github.xrayviewer-{size}.png"
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"cannot write {out}")
    return out


if __name__ == "__main__":
    print(render())
