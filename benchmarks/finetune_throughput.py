"""Training throughput of the train engine vs a bare PyTorch loop, side by side.

Same model (architecture, random init), batch size, data pipeline (``builtin:digits`` through the
data package's transforms and the same DataLoader settings), optimizer (SGD + momentum, constant
lr), device and memory layout (channels-last where the engine uses it: ``hf_quicktune.train.layout``; since
session 42 the engine's layout, which the bare loop must share for the ratio to measure the engine's overhead
rather than the layout). Rounds alternate bare / engine epochs so machine load hits both alike; the first
round is a warm-up. Prints images/s of each and the ratio engine / bare (target >= 0.95).

    python benchmarks/finetune_throughput.py                       # CPU: lite0, 64 px
    python benchmarks/finetune_throughput.py --image-size 224 --amp --model resnet26d --images 4096
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tf_efficientnet_lite0", help="timm architecture (random init)")
    parser.add_argument("--dataset", default="builtin:digits")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=384, help="training images per epoch")
    parser.add_argument("--rounds", type=int, default=4, help="measured rounds (plus one warm-up)")
    parser.add_argument("--amp", action="store_true", help="mixed precision (bf16/fp16 on GPU)")
    parser.add_argument("--num-workers", type=int, default=None)
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    from hf_quicktune.data import load
    from hf_quicktune.train import Trial
    from hf_quicktune.train.device import default_accelerator
    from hf_quicktune.train.loaders import build_transforms, limit_split, make_loader, torch_dataset
    from hf_quicktune.zoo import get_candidate

    dataset = load(args.dataset)
    candidate = get_candidate(f"scratch:{args.model}")
    config = {"lr": 0.01, "opt": "momentum", "momentum": 0.9, "weight_decay": 0.0, "sched": "none",
              "batch_size": args.batch_size, "amp": args.amp}
    acc = default_accelerator()
    device = acc.device
    seed = 0

    workdir = tempfile.mkdtemp(prefix="qt-bench-")
    trial = Trial(workdir, candidate, config, dataset, max_epochs=1000, image_size=args.image_size,
                  train_limit=args.images, eval_limit=args.batch_size, seed=seed, accelerator=acc,
                  num_workers=args.num_workers, keep_in_memory=True)

    # --- the bare loop: same model, data pipeline, optimizer, device
    import timm

    from hf_quicktune.train.layout import batch_layout, to_layout, use_channels_last

    torch.manual_seed(seed)
    model = timm.create_model(args.model, pretrained=False, num_classes=dataset.num_classes).to(device)
    channels_last = use_channels_last(device.type, bool(args.amp) and acc.mixed_precision != "no")
    to_layout(model, channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=False)
    train_tf, _ = build_transforms(trial.data_config(), trial.config, args.image_size)
    train_set = torch_dataset(limit_split(dataset.splits["train"], args.images, seed), train_tf)
    # the bare loop autocasts like the engine: the process's Accelerate precision, when --amp
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(acc.mixed_precision) if args.amp else None
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None

    def bare_epoch(epoch: int) -> float:
        model.train()
        loader = make_loader(train_set, args.batch_size, shuffle=True, seed=seed, epoch=epoch,
                             num_workers=args.num_workers, pin_memory=device.type == "cuda")
        seen = 0
        start = time.perf_counter()
        for batch in loader:
            x = batch_layout(batch["pixel_values"].to(device, non_blocking=True), channels_last)
            y = batch["label"].to(device, non_blocking=True)
            ctx = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
            with ctx:
                loss = F.cross_entropy(model(x).float(), y)
            if scaler:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            seen += x.shape[0]
        loss.item()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return seen / (time.perf_counter() - start)

    bare, engine = [], []
    for r in range(args.rounds + 1):
        b = bare_epoch(r)
        (rec,) = trial.advance(1)
        if not rec.ok:
            raise SystemExit(f"engine epoch failed: {rec.status} {rec.message}")
        e = rec.images_per_second
        tag = "warm-up" if r == 0 else f"round {r}"
        print(f"{tag:>8}: bare {b:8.1f} img/s   engine {e:8.1f} img/s   ratio {e / b:.3f}", flush=True)
        if r > 0:
            bare.append(b)
            engine.append(e)
    mb, me = statistics.median(bare), statistics.median(engine)
    print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), "
          f"model {args.model}, {args.image_size}px, batch {args.batch_size}, {args.images} images/epoch, "
          f"amp={args.amp}, channels-last={channels_last}, torch threads={torch.get_num_threads()}")
    print(f"median images/s: bare {mb:.1f}, engine {me:.1f}; ratio engine/bare = {me / mb:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
