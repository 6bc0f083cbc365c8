"""How the Ray engine lays its actors out over a cluster's nodes (no Ray needed)."""

from __future__ import annotations

import pytest

from xrayviewer.cluster.ray_engine import ClusterError, Plan, engine_state, plan_pool


def test_cpu_clusters_get_one_single_threaded_actor_per_core() -> None:
    nodes = [{"CPU": 16.0, "memory": 1e10}, {"CPU": 8.0}]
    assert plan_pool(nodes, "auto") == Plan(24, 1, 0, "cpu")
    assert plan_pool(nodes, "cpu", actors=5) == Plan(5, 1, 0, "cpu")


def test_gpu_clusters_get_one_actor_per_gpu_with_its_share_of_the_node_cpus() -> None:
    nodes = [{"CPU": 32.0, "GPU": 4.0}, {"CPU": 16.0, "GPU": 1.0}, {"CPU": 64.0}]
    assert plan_pool(nodes, "cuda") == Plan(5, 8, 1, "cuda")  # 8: what fits on the 4-GPU node
    assert plan_pool(nodes, "auto") == Plan(5, 8, 1, "auto")
    assert plan_pool(nodes, "cpu") == Plan(112, 1, 0, "cpu")  # --provider cpu uses every core instead


def test_cuda_without_gpus_is_refused_before_anything_waits_for_one() -> None:
    with pytest.raises(ClusterError, match="no GPUs"):
        plan_pool([{"CPU": 8.0}], "cuda")


def test_the_actors_copy_the_engine_settings_but_not_its_session(tiny_model) -> None:
    from xrayviewer.inference.engine import Engine

    engine = Engine(tiny_model, "cpu", threads=1)
    engine.threshold = 0.3
    state = engine_state(engine)
    assert state["threshold"] == 0.3 and state["card"] is engine.card
    assert not {"session", "path", "provider", "threads"} & set(state)


def _score(*argv: object) -> int:
    from xrayviewer.cli import main

    return main(["score", *map(str, argv)])


def test_without_the_cluster_extra_the_ray_engine_says_how_to_get_it(tmp_path, tiny_model, monkeypatch,
                                                                   capsys) -> None:
    import sys

    from xrayviewer.paths import samples_dir

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed: `import ray` fails
    out = tmp_path / "scores.csv"
    assert _score(samples_dir(), "--csv", out, "--model", tiny_model, "--engine", "ray", "-q") == 2
    err = capsys.readouterr().err
    assert "pip install 'xrayviewer[cluster]'" in err and "Traceback" not in err
    assert not out.exists()


def test_parquet_without_pyarrow_and_an_address_without_ray_are_usage_errors(tmp_path, tiny_model, monkeypatch,
                                                                             capsys) -> None:
    import sys

    from xrayviewer.paths import samples_dir

    out = tmp_path / "scores.csv"
    assert _score(samples_dir(), "--csv", out, "--model", tiny_model, "--ray-address", "auto", "-q") == 2
    assert "--ray-address needs --engine ray" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert _score(samples_dir(), "--csv", out, "--model", tiny_model, "--parquet", tmp_path / "s.parquet") == 2
    assert "--parquet needs pyarrow" in capsys.readouterr().err
    assert not out.exists()
