"""Training: ``ssd-train`` / ``python -m ssd_edge.train`` (also under ``torchrun``).

* :mod:`.targets` — prior matching and box encoding (numpy, in the data workers).
* :mod:`.augment` — the SSD augmentations (photometric distortion, zoom-out, SSD random crop,
  mirror) and the deterministic evaluation transform (numpy + OpenCV).
* :mod:`.loss` — MultiBox loss with 3:1 hard negative mining.
* :mod:`.trainer` — the loop: datasets, optimiser groups, schedules, validation loss and mAP,
  checkpoints pytorch-ssd loads, AMP on CUDA, DistributedDataParallel under ``torchrun``.
* :mod:`.options` — the command line (pytorch-ssd's dusty-nv flags, hyphenated).
"""
