#!/usr/bin/env python3
"""PyTorch's time for the step that `ares bench` times (--method ce, infer or ce-frozen), on the same machine.

The step, as ares-ood's bench harness runs it (src/bench/ce-step.ts, src/methods/ce-step.ts):
a fixed batch of uniform random pixels and labels (10 classes); for the CIFAR-size models the
host batch is first augmented with the standard random crop (zero padding 4) and horizontal flip,
as in training; then forward with batch norm in training mode, softmax cross-entropy, backward,
and SGD with Nesterov momentum 0.9, weight decay 5e-4, lr 0.1. The figure is the median over the
timed steps after untimed warm-up steps (defaults as `ares bench`: 20 after 3, batch 128);
cpu_ms_per_step is the median process CPU time of a step (all threads), as ares reports it.

--mode infer times what `ares bench --method infer` does: the network in eval mode (batch norm on
running statistics) under torch.inference_mode, forward of the fixed batch and readback of the
logits to the host (their mean is reported as "loss", as ares does). --mode train-frozen times
`--method ce-frozen` (MobileNetV2 only): the backbone (features + global average pool) in eval mode
without gradients, then the classifier (dropout 0.2 + linear) in training mode, cross-entropy,
backward and the same SGD update of the classifier's parameters alone.

--device cuda moves the network and the batch to the GPU and synchronises before each clock read
(the default is cpu; the crop + flip still draws its offsets on the host).

The networks are the ones of src/models/:
  cnn       28x28x1: [conv3x3-BN-ReLU] x2 (32), maxpool2, [conv3x3-BN-ReLU] x2 (64), maxpool2,
            dense(3136->128, no bias)-BN-ReLU, dense(128->10); convolutions carry no bias
  resnet18  32x32x3, CIFAR variant (3x3 stem, no stem max-pool), basic blocks 64/128/256/512
  wrn40-2   32x32x3, pre-activation WideResNet-40-2 (widths 32/64/128), no dropout
and, for src/bench/mobilenetv2.ts,
  mobilenetv2  224x224x3, 1000 classes: torchvision.models.mobilenet_v2(weights=None) (needs
            torchvision; Debian: python3-torchvision)

Needs PyTorch; on Debian: apt-get install python3-torch libopenblas0-pthread, and run it with
the system Python:  /usr/bin/python3 bench/torch_step.py --model cnn --threads 2
Prints one JSON line.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def reference_cnn(classes):
    return nn.Sequential(
        *conv_bn_relu(1, 32), *conv_bn_relu(32, 32), nn.MaxPool2d(2),
        *conv_bn_relu(32, 64), *conv_bn_relu(64, 64), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(),
        nn.Linear(128, classes))


class BasicBlock(nn.Module):
    """ResNet basic block; a 1x1 convolution + BN shortcut where the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet18Cifar(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        blocks, cin = [], 64
        for width, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks += [BasicBlock(cin, width, stride), BasicBlock(width, width, 1)]
            cin = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(512, classes)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class WideBlock(nn.Module):
    """Pre-activation wide basic block; where the shape changes the 1x1 shortcut branches off the
    pre-activated input, as in the original WideResNet."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        y = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return y + (x if self.shortcut is None else self.shortcut(pre))


class Wrn40x2(nn.Module):
    def __init__(self, classes, depth=40, k=2):
        super().__init__()
        per_group = (depth - 4) // 6
        self.stem = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        blocks, cin = [], 16
        for width, stride in [(16 * k, 1), (32 * k, 2), (64 * k, 2)]:
            for i in range(per_group):
                blocks.append(WideBlock(cin, width, stride if i == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        return self.head(F.relu(self.bn(self.blocks(self.stem(x)))).mean(dim=(2, 3)))


def mobilenet_v2(classes):
    import torchvision  # only this model needs it
    return torchvision.models.mobilenet_v2(weights=None, num_classes=classes)


# model -> (builder, input shape N-less CHW, classes, crop + flip each training step)
MODELS = {
    'cnn': (reference_cnn, (1, 28, 28), 10, False),
    'resnet18': (ResNet18Cifar, (3, 32, 32), 10, True),
    'wrn40-2': (Wrn40x2, (3, 32, 32), 10, True),
    'mobilenetv2': (mobilenet_v2, (3, 224, 224), 1000, False),
}
# --mode -> the method name `ares bench` gives the same step
METHODS = {'train': 'ce', 'infer': 'infer', 'train-frozen': 'ce-frozen'}


def crop_flip(batch, gen, pad=4):
    """torchvision's RandomCrop(padding=4) + RandomHorizontalFlip, per image, on a NCHW batch."""
    n, _, h, w = batch.shape
    padded = F.pad(batch, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen).tolist()
    mirror = (torch.rand(n, generator=gen) < 0.5).tolist()
    out = torch.empty_like(batch)
    for i, ((dy, dx), m) in enumerate(zip(offsets, mirror)):
        img = padded[i, :, dy:dy + h, dx:dx + w]
        out[i] = img.flip(2) if m else img
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='cnn', choices=sorted(MODELS))
    ap.add_argument('--mode', default='train', choices=sorted(METHODS),
                    help='train: CE training step; infer: forward with readback; train-frozen: classifier step on a frozen backbone')
    ap.add_argument('--device', default='cpu', help='cpu (default) or cuda')
    ap.add_argument('--threads', type=int, default=2, help='intra-op threads (torch.set_num_threads)')
    ap.add_argument('--steps', type=int, default=20, help='timed steps (median reported)')
    ap.add_argument('--warmup', type=int, default=3, help='untimed steps first')
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.batch < 1 or args.threads < 1:
        ap.error('--steps, --batch and --threads must be >= 1, --warmup >= 0')
    if args.mode == 'train-frozen' and args.model != 'mobilenetv2':
        ap.error('--mode train-frozen needs --model mobilenetv2 (a backbone + classifier split)')
    if args.device not in ('cpu', 'cuda'):
        ap.error('--device must be cpu or cuda')
    if args.device == 'cuda' and not torch.cuda.is_available():
        ap.error('--device cuda: this PyTorch sees no CUDA device')
    device = torch.device(args.device)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    build, shape, classes, augment = MODELS[args.model]
    net = build(classes).to(device).train()
    pixels = torch.rand(args.batch, *shape, generator=gen).to(device)
    labels = torch.randint(0, classes, (args.batch,), generator=gen).to(device)

    if args.mode == 'infer':
        net.eval()

        def step():
            with torch.inference_mode():
                return net(pixels).cpu().mean().item()
    elif args.mode == 'train-frozen':
        for p in net.features.parameters():
            p.requires_grad_(False)
        net.features.eval()
        opt = torch.optim.SGD(net.classifier.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)

        def step():
            with torch.no_grad():
                feats = torch.flatten(F.adaptive_avg_pool2d(net.features(pixels), 1), 1)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net.classifier(feats), labels)
            loss.backward()
            opt.step()
            return loss.item()
    else:
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)

        def step():
            x = crop_flip(pixels, gen) if augment else pixels
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), labels)
            loss.backward()
            opt.step()
            return loss.item()

    def sync():
        # CUDA kernels run asynchronously: wait for them before reading the clock.
        if device.type == 'cuda':
            torch.cuda.synchronize()

    times, cpu, loss = [], [], float('nan')
    for i in range(args.warmup + args.steps):
        sync()
        c0, t0 = time.process_time(), time.perf_counter()
        loss = step()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    ms = 1000 * statistics.median(times)
    print(json.dumps({
        'impl': 'pytorch', 'torch': torch.__version__, 'device': args.device, 'model': args.model,
        'method': METHODS[args.mode],
        'threads': torch.get_num_threads(), 'batch': args.batch, 'steps': args.steps, 'warmup': args.warmup,
        'ms_per_step': round(ms, 2), 'ms_min': round(1000 * min(times), 2), 'ms_max': round(1000 * max(times), 2),
        'cpu_ms_per_step': round(1000 * statistics.median(cpu), 2), 'images_per_s': round(args.batch / ms * 1000, 1), 'loss': round(loss, 6),
    }))


if __name__ == '__main__':
    main()
