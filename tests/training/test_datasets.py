import csv
import shutil
from pathlib import Path

from xrayviewer.training.datasets import from_folder_tree, load_dataset, patient_from_name

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def test_manifest_reads_the_patient_grouped_split(data_root):
    ds = load_dataset(data_root / "manifest.csv")
    train, val = ds.split("train"), ds.split("val")
    assert (len(train), len(val)) == (4692, 524)
    assert sum(s.label for s in val) == 390
    assert not {s.patient for s in train} & {s.patient for s in val}
    assert ds.skipped["split 'samples'"] == 16
    assert len(ds.sha256) == 64
    assert all(s.path.is_file() for s in val[:20])


def test_patient_ids_from_kermany_names():
    assert patient_from_name("person1946_bacteria_4874.jpeg") == "person1946"
    assert patient_from_name("NORMAL2-IM-1427-0001.jpeg") == "NORMAL2-IM-1427"
    assert patient_from_name("IM-0115-0001.jpeg") == "IM-0115"


def _kaggle_tree(root: Path) -> None:
    for f in SAMPLES.glob("*.jpeg"):
        label = "NORMAL" if f.name.startswith("NORMAL") else "PNEUMONIA"
        for split in ("train", "test"):
            d = root / split / label
            d.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, d / f.name)


def test_folder_tree_draws_a_grouped_val_split_when_val_is_tiny(tmp_path):
    _kaggle_tree(tmp_path)
    ds = from_folder_tree(tmp_path)
    assert len(ds.split("test")) == 16
    train, val = ds.split("train"), ds.split("val")
    assert len(train) + len(val) == 16 and len(val) >= 2
    assert {s.label for s in val} == {0, 1}
    assert not {s.patient for s in train} & {s.patient for s in val}
    assert {s.subtype for s in ds.samples} == {"normal", "bacteria"}


def test_metadata_csv_skips_unlabelled_and_missing_films(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    rows = []
    for f in sorted(SAMPLES.glob("*.jpeg")):
        shutil.copy(f, images / f.name)
        label = "Normal" if f.name.startswith("NORMAL") else "Pnemonia"
        rows.append({"X_ray_image_name": f.name, "Label": label, "Dataset_type": "TRAIN",
                     "Label_1_Virus_category": "" if label == "Normal" else "bacteria"})
    rows.append({"X_ray_image_name": "extra.jpeg", "Label": "", "Dataset_type": "TRAIN",
                 "Label_1_Virus_category": ""})
    rows.append({"X_ray_image_name": "missing.jpeg", "Label": "Normal", "Dataset_type": "TEST",
                 "Label_1_Virus_category": ""})
    meta = tmp_path / "Chest_xray_Corona_Metadata.csv"
    with meta.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    ds = load_dataset(meta, images)
    assert len(ds.samples) == 16
    assert ds.skipped["without a label"] == 1 and ds.skipped["listed but not found"] == 1
    assert sum(s.label for s in ds.samples) == 8
