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
