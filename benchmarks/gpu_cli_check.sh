#!/bin/bash
# One device check (run through the device tool, carrying .whl/ with the wheels the machine lacks: monai, pydicom,
# highdicom, pyjpegls, pynetdicom): the CNN tests and the CLI path (simulate -> cnn train -> cnn triage) on a CUDA
# machine. Writes to $OUT.
set -u
cd "$(dirname "$0")/.."  # the repository root
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl 2>&1 | tail -3
export PYTHONPATH=$PWD/src:/tmp/site OMP_NUM_THREADS=4
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
python3 - <<'PY' | tee $OUT/versions.txt
import importlib
for m in ["torch","monai","numpy","scipy","pandas","sklearn","matplotlib","pydicom","highdicom","onnx","onnxruntime","safetensors","SimpleITK","radiomics","weasyprint","typer","rich","threadpoolctl"]:
    try:
        mod = importlib.import_module(m); print(m, getattr(mod, "__version__", "?"))
    except Exception as e:
        print(m, "MISSING", type(e).__name__, str(e)[:80])
import torch; print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
S=$(date +%s)
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_cnn.py tests/test_drift_batch.py 2>&1 | tail -25 | tee $OUT/pytest_cnn.txt
echo "pytest cnn: $(( $(date +%s) - S )) s" | tee -a $OUT/pytest_cnn.txt
CLI="python3 -c 'import sys; from scintiml.cli import main; sys.argv[0]=\"scintiml\"; main()'"
W=/tmp/gpuwork; rm -rf $W; mkdir -p $W
{
S=$(date +%s)
eval $CLI simulate --n 400 --seed 11 --jobs 12 --out $W/train
eval $CLI simulate --n 120 --seed 12 --jobs 12 --out $W/new
echo "simulate: $(( $(date +%s) - S )) s"; S=$(date +%s)
eval $CLI cnn train $W/train --out $W/model --epochs 30 --seed 0
echo "cnn train (cuda): $(( $(date +%s) - S )) s"; S=$(date +%s)
eval $CLI cnn triage $W/model $W/new/dicom --out $W/wl_gpu.csv
echo "triage on the GPU machine: $(( $(date +%s) - S )) s"
CUDA_VISIBLE_DEVICES= eval $CLI cnn triage $W/model $W/new/dicom --out $W/wl_cpu.csv
python3 - <<PY
import pandas as pd
a = pd.read_csv("$W/wl_gpu.csv"); b = pd.read_csv("$W/wl_cpu.csv")
print(a.columns.tolist()); print(a.head(3).to_string())
num = [c for c in a.columns if "prob" in c.lower()]
for c in num:
    print(c, "max |gpu - cpu-only|", (a.sort_values("patient_id")[c].values - b.sort_values("patient_id")[c].values).__abs__().max())
PY
python3 - <<PY
import json; r = json.load(open("$W/model/bundle.json")); print({k: r.get(k) for k in list(r)[:12]})
PY
} 2>&1 | tail -60 | tee $OUT/cli.txt
cp $W/wl_gpu.csv $W/wl_cpu.csv $OUT/ 2>/dev/null; cp $W/model/bundle.json $OUT/model_bundle.json 2>/dev/null
python3 -c "
import pandas as pd; a=pd.read_csv('$W/wl_gpu.csv').sort_values('patient_id'); b=pd.read_csv('$W/wl_cpu.csv').sort_values('patient_id')
print('same priority for every study:', (a.priority.values==b.priority.values).all())" | tee -a $OUT/cli.txt
