"""Training data: detection datasets → augmented network inputs and per-prior targets."""
import logging

import numpy as np
import torch

from ..errors import SsdEdgeError

LOG = logging.getLogger("ssd_edge.train")


class TrainSet(torch.utils.data.Dataset):
    """Detection datasets → ``(image (3, H, W) float32, locations (P, 4), labels (P,))``.

    Objects flagged difficult are dropped unless ``keep_difficult``; the augmentation of sample
    ``i`` in epoch ``e`` draws from ``default_rng([seed, e, i])``, so runs are reproducible
    whatever the number of loader processes.
    """

    def __init__(self, datasets, transform, matcher, seed=0, keep_difficult=False):
        self.datasets = list(datasets)
        self.offsets = np.cumsum([0] + [len(d) for d in self.datasets])
        self.transform = transform
        self.matcher = matcher
        self.seed = int(seed)
        self.epoch = 0
        self.keep_difficult = keep_difficult

    def __len__(self):
        return int(self.offsets[-1])

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def locate(self, i):
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.datasets[k], i - int(self.offsets[k])

    def __getitem__(self, i):
        for attempt in range(len(self)):
            ds, j = self.locate((i + attempt) % len(self))
            try:
                image = ds.image(j)
            except SsdEdgeError as e:       # an undecodable image: say which, train on the next
                LOG.warning("skipping %s: %s", ds.image_path(j), e)
                continue
            target = ds.annotation(j, (image.shape[1], image.shape[0]))
            boxes, labels = target["boxes"], target["labels"]
            if not self.keep_difficult and len(boxes):
                keep = ~np.asarray(target["difficult"], bool)
                boxes, labels = boxes[keep], labels[keep]
            rng = np.random.default_rng([self.seed, self.epoch, int(i)])
            chw, rel, labels = self.transform(image, boxes, labels, rng)
            locations, prior_labels = self.matcher(rel, labels)
            return torch.from_numpy(chw), torch.from_numpy(locations), \
                torch.from_numpy(prior_labels)
        raise SsdEdgeError("expected decodable images in the dataset, got none")


def open_datasets(opts):
    """``(train datasets, validation dataset, class names)`` from the options."""
    from ..data import detect_type, load_dataset

    kind = opts.dataset_type or detect_type(opts.datasets[0])
    train_split, val_split = opts.splits(kind)
    train = [load_dataset(d, opts.dataset_type or detect_type(d), train_split, opts.classes)
             for d in opts.datasets]
    names = train[0].class_names
    for d in train[1:]:
        if d.class_names != names:
            raise SsdEdgeError("expected every dataset to have the classes of %s (%s), got %s in "
                               "%s; pass --classes to pick common ones"
                               % (train[0].root, ",".join(names[1:]), ",".join(d.class_names[1:]),
                                  d.root))
    for d in train:
        d.log_summary()
    val_root = opts.validation_dataset or opts.datasets[0]
    val_kind = opts.dataset_type or detect_type(val_root)
    val = load_dataset(val_root, val_kind, opts.splits(val_kind)[1], opts.classes or names[1:])
    if val.class_names != names:
        raise SsdEdgeError("expected the validation set %s to have the classes %s, got %s"
                           % (val_root, ",".join(names[1:]), ",".join(val.class_names[1:])))
    return train, val, names
