"""focal's PyTorch ops from Python against torchvision: torchvision.ops.sigmoid_focal_loss and
RetinaNetClassificationHead.compute_loss; gradcheck; layouts, retain_graph, bad input.
Run by CTest in the torch workflow (FOCAL_TORCH_LIBRARY names libfocal_torch.so)."""
import os
import subprocess
import sys
import unittest

import torch
import torchvision
from torchvision.models.detection.retinanet import RetinaNetClassificationHead

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bindings", "torch"))
import focal_torch  # noqa: E402


def normwise(a, b):
    """max |a - b| / max |b|: elementwise, torchvision's 1 - sigmoid loses up to 1e-9 at |x| = 15."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


class TorchvisionParity(unittest.TestCase):
    def test_sigmoid_focal_loss_values_and_gradients(self):
        torch.manual_seed(0)
        for reduction in ("none", "mean", "sum"):
            for alpha in (0.25, -1.0):
                for gamma in (0.0, 0.5, 2.0, 5.0):
                    x0 = torch.rand(128, 9, dtype=torch.float64) * 30 - 15
                    t = (torch.rand(128, 9, dtype=torch.float64) < 0.1).double()
                    x1 = x0.clone().requires_grad_(True)
                    x2 = x0.clone().requires_grad_(True)
                    a = focal_torch.sigmoid_focal_loss(x1, t, alpha, gamma, reduction)
                    b = torchvision.ops.sigmoid_focal_loss(x2, t, alpha, gamma, reduction)
                    self.assertLess(normwise(a, b), 1e-12, (reduction, alpha, gamma))
                    w = torch.rand(a.shape, dtype=torch.float64)
                    (a * w).sum().backward()
                    (b * w).sum().backward()
                    self.assertLess(normwise(x1.grad, x2.grad), 1e-12, (reduction, alpha, gamma))

    def test_retinanet_classification_head_loss(self):
        torch.manual_seed(1)
        head = RetinaNetClassificationHead(in_channels=8, num_anchors=1, num_classes=5)
        images, anchors, k = 3, 400, 5
        logits = torch.randn(images, anchors, k, dtype=torch.float64) * 4
        targets, matched, labels = [], [], []
        for _ in range(images):
            n_gt = 4
            gt = torch.randint(0, k, (n_gt,))
            m = torch.full((anchors,), -1, dtype=torch.int64)
            r = torch.rand(anchors)
            fg = r < 0.02
            m[fg] = torch.randint(0, n_gt, (int(fg.sum()),))
            m[(r >= 0.02) & (r < 0.1)] = -2
            targets.append({"labels": gt})
            matched.append(m)
            lab = torch.where(m >= 0, gt[m.clamp_min(0)], m)
            labels.append(lab)
        x1 = logits.clone().requires_grad_(True)
        x2 = logits.clone().requires_grad_(True)
        expected = head.compute_loss(targets, {"cls_logits": x2}, matched)
        ours = sum(focal_torch.sigmoid_focal_loss_labels(
            x1[i], labels[i], 0.25, 2.0, max(1, int((labels[i] >= 0).sum())))
            for i in range(images)) / images
        self.assertLess(abs(ours.item() - expected.item()), 1e-12 * abs(expected.item()))
        ours.backward()
        expected.backward()
        self.assertLess(normwise(x1.grad, x2.grad), 1e-12)


class Autograd(unittest.TestCase):
    def test_gradcheck(self):
        torch.manual_seed(2)
        x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
        t = (torch.rand(6, 4, dtype=torch.float64) < 0.3).double()
        labels = torch.tensor([0, -1, 3, -2, 2, 1])
        for reduction in ("none", "mean", "sum"):
            self.assertTrue(torch.autograd.gradcheck(
                lambda v: focal_torch.sigmoid_focal_loss(v, t, 0.25, 2.0, reduction), (x,)))
        self.assertTrue(torch.autograd.gradcheck(
            lambda v: focal_torch.sigmoid_focal_loss_labels(v, labels, 0.25, 2.0, 2.0), (x,)))
        soft = torch.tensor([0, 1, 3, -2, 2, 1])
        self.assertTrue(torch.autograd.gradcheck(
            lambda v: focal_torch.softmax_focal_loss(v, soft, 2.0, 0.25, 2.0), (x,)))

    def test_layouts_and_graphs(self):
        x = torch.randn(8, 6, dtype=torch.float64)
        t = (torch.rand(8, 6, dtype=torch.float64) < 0.3).double()
        # A non-contiguous view gives the contiguous copy's result.
        xt = x.t().contiguous().t()
        self.assertFalse(xt.is_contiguous())
        self.assertEqual(focal_torch.sigmoid_focal_loss(xt, t, reduction="sum").item(),
                         focal_torch.sigmoid_focal_loss(x, t, reduction="sum").item())
        # requires_grad=False: a plain value, no graph.
        self.assertFalse(focal_torch.sigmoid_focal_loss(x, t, reduction="sum").requires_grad)
        # A second backward through retain_graph accumulates the same gradient again.
        v = x.clone().requires_grad_(True)
        loss = focal_torch.sigmoid_focal_loss(v, t, reduction="sum")
        loss.backward(retain_graph=True)
        first = v.grad.clone()
        loss.backward()
        self.assertTrue(torch.equal(v.grad, 2 * first))

    def test_bad_input(self):
        x = torch.randn(4, 3)
        with self.assertRaisesRegex(RuntimeError, "must match"):
            focal_torch.sigmoid_focal_loss(x, torch.zeros(4, 2))
        with self.assertRaisesRegex(RuntimeError, "must be 0 or 1"):
            focal_torch.sigmoid_focal_loss(x, torch.full((4, 3), 0.5))
        with self.assertRaisesRegex(RuntimeError, "float or double"):
            focal_torch.sigmoid_focal_loss(torch.zeros(4, 3, dtype=torch.int64), torch.zeros(4, 3))
        with self.assertRaisesRegex(RuntimeError, r"labels\[0\] = 7"):
            focal_torch.sigmoid_focal_loss_labels(x, torch.full((4,), 7))


@unittest.skipUnless(os.environ.get("FOCAL_TORCH_DISPATCH") == "ON",
                     "libfocal_torch.so built without focal::dispatch")
class Dispatch(unittest.TestCase):
    """The ops run focal::dispatch's variant (FOCAL_ISA, read at the first call, picks one)."""

    def run_ops(self, isa):
        bindings = os.path.dirname(os.path.abspath(focal_torch.__file__))
        code = ("import sys, torch; sys.path.insert(0, %r); import focal_torch; "
                "torch.manual_seed(0); x = torch.randn(300, 80); "
                "t = (torch.rand(300, 80) < 0.1).float(); "
                "print(focal_torch.sigmoid_focal_loss(x, t, 0.25, 2.0, 'sum').item())") % bindings
        return subprocess.run([sys.executable, "-c", code], env=dict(os.environ, FOCAL_ISA=isa),
                              capture_output=True, text=True, check=False)

    def test_focal_isa(self):
        bad = self.run_ops("avx3")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("FOCAL_ISA=avx3", bad.stderr)
        sse2 = self.run_ops("sse2")
        self.assertEqual(sse2.returncode, 0, sse2.stderr)
        for isa in ("avx2", "avx512"):
            r = self.run_ops(isa)
            if r.returncode == 0:
                self.assertAlmostEqual(float(r.stdout), float(sse2.stdout), delta=1e-5 * float(sse2.stdout))
            else:
                self.assertIn("does not support", r.stderr)


if __name__ == "__main__":
    unittest.main()
