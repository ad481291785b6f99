#!/usr/bin/python3
"""PyTorch reference for `npm run bench:infer`: EfficientNet-B0 inference (eval mode, no_grad),
batch 8, 2 threads; bench/train_ref.py with --infer.

  /usr/bin/python3 bench/infer_ref.py --size 448 --steps 3
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.argv.append('--infer')
from train_ref import main  # noqa: E402

main()
