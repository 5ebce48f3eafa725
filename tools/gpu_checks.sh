#!/bin/bash
# Run on the GPU machine from the repository root, with .whl/ (tools/gpu_bundle.py) carried along:
#   bash tools/gpu_checks.sh   (env: RT_WORKERS=1,2,4 RT_BUDGET=60s RT_TIMEOUT=300 SKIP_FT=1)
# Device checks for issue 15 (run throughput on a GPU) and the train engine on CUDA (fp32 vs amp).
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HOME=/tmp/hfhome
T0=$(date +%s)
rm -rf /tmp/rtw  # a warm machine keeps the last call's runs
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
python3 - <<'PY' 2>&1 | tee $OUT/versions.log
import importlib
for m in ["torch", "torchvision", "timm", "accelerate", "transformers", "datasets", "huggingface_hub", "ray", "gpytorch", "sklearn", "pyarrow", "fsspec", "numpy", "pandas"]:
    mod = importlib.import_module(m); print(m, getattr(mod, "__version__", "?"))
import torch; print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
import hf_quicktune.cli, hf_quicktune.run.ray_executor; print("hf_quicktune imports")
PY
echo "[t=$(( $(date +%s) - T0 ))s] run throughput"
timeout ${RT_TIMEOUT:-300} python3 benchmarks/run_throughput.py --budget ${RT_BUDGET:-60s} --workers ${RT_WORKERS:-1,2,4} \
  --image-size 128 --train-limit 1024 --threads 8 --workdir /tmp/rtw 2>&1 | tee $OUT/run_throughput.log
for n in 1 2 4; do [ -f /tmp/rtw/workers-$n/steps.jsonl ] && cp /tmp/rtw/workers-$n/steps.jsonl $OUT/steps-w$n.jsonl; done
[ -f /tmp/rtw/workers-1/summary.json ] && cp /tmp/rtw/workers-1/summary.json $OUT/summary-w1.json
ls /tmp/rtw/workers-*/ 2>/dev/null | head -20; tail -5 /tmp/rtw/workers-*/*.log 2>/dev/null | tail -30
echo "[t=$(( $(date +%s) - T0 ))s] finetune throughput"
[ -n "${SKIP_FT:-}" ] || for amp in "" "--amp"; do
  timeout 60 python3 benchmarks/finetune_throughput.py --image-size 224 --batch-size 128 --images 1400 --rounds 3 $amp 2>&1 | tail -6
done 2>&1 | tee $OUT/finetune_throughput.log
echo "[t=$(( $(date +%s) - T0 ))s] done"
