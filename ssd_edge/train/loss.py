"""MultiBox loss with hard negative mining (SSD; pytorch-ssd's ``MultiboxLoss``)."""
import torch
import torch.nn.functional as F


def hard_negative_mask(background_loss, labels, neg_pos_ratio=3):
    """Positives plus the ``neg_pos_ratio``× as many hardest negatives, per image.

    Args:
        background_loss: ``(B, P)`` ``-log softmax[..., 0]`` (how wrong "background" is).
        labels: ``(B, P) int64`` matched labels (0 = background).
    Returns:
        ``(B, P) bool``.
    """
    pos = labels > 0
    num_neg = pos.long().sum(1, keepdim=True) * neg_pos_ratio
    loss = background_loss.masked_fill(pos, float("-inf"))
    order = loss.argsort(1, descending=True)
    rank = order.argsort(1)
    return pos | (rank < num_neg)


class MultiBoxLoss(torch.nn.Module):
    """Classification (cross-entropy over positives and 3:1 hard negatives) plus smooth-L1
    regression over positives, both divided by the number of positives in the batch.

    ``forward(confidence (B, P, C), locations (B, P, 4), labels (B, P), gt_locations (B, P, 4))``
    → ``(regression_loss, classification_loss)`` scalars.
    """

    def __init__(self, neg_pos_ratio=3):
        super(MultiBoxLoss, self).__init__()
        self.neg_pos_ratio = int(neg_pos_ratio)

    def forward(self, confidence, locations, labels, gt_locations):
        num_classes = confidence.shape[2]
        confidence = confidence.float()
        with torch.no_grad():
            bg = -F.log_softmax(confidence, dim=2)[:, :, 0]
            mask = hard_negative_mask(bg, labels, self.neg_pos_ratio)
        cls = F.cross_entropy(confidence[mask].reshape(-1, num_classes), labels[mask],
                              reduction="sum")
        pos = labels > 0
        reg = F.smooth_l1_loss(locations.float()[pos].reshape(-1, 4),
                               gt_locations[pos].reshape(-1, 4), reduction="sum")
        n = pos.sum().clamp(min=1).float()
        return reg / n, cls / n
