"""Speed-ups of the CPU training path must not change what is computed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.nets.unet3d import ZLastConv3d


@pytest.mark.parametrize("shape", [
    (1, 4, 5, 12, 10),  # small: the zero second sample path
    (1, 4, 3, 72, 80),  # 4*72*80 > 20,480: the permuted view alone
    (2, 4, 5, 12, 10),  # a batch: the plain convolution
])
@pytest.mark.parametrize("kernel, padding, stride, bias", [
    ((3, 3, 3), 1, 1, False),
    ((1, 3, 3), (0, 1, 1), 1, False),
    ((1, 5, 5), (0, 2, 2), (1, 2, 2), True),
    ((1, 1, 1), 0, 1, True),
])
def test_z_last_convolution_equals_the_plain_one_forward_and_backward(kernel, padding, stride,
                                                                       bias, shape):
    torch.manual_seed(0)
    plain = nn.Conv3d(4, 6, kernel, stride=stride, padding=padding, bias=bias)
    fast = ZLastConv3d(4, 6, kernel, stride=stride, padding=padding, bias=bias)
    fast.load_state_dict(plain.state_dict())  # same parameters, same state_dict keys
    x = torch.rand(*shape, requires_grad=True)
    y_plain, y_fast = plain(x), fast(x)
    assert y_fast.shape == y_plain.shape
    torch.testing.assert_close(y_fast, y_plain, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(y_plain)
    grads_plain = torch.autograd.grad(y_plain, [x, *plain.parameters()], g)
    grads_fast = torch.autograd.grad(y_fast, [x, *fast.parameters()], g)
    for a, b in zip(grads_fast, grads_plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_batched_student_pairs_match_the_per_pair_loop():
    """One pass over all section pairs gives each pair the embeddings of its own pass (eval
    mode: BatchNorm uses running statistics, so only the batching differs) and per-pair
    gradients that sum to the loop's."""
    from bench.nets.ynet import YNetStudent
    from cad.train import student_pairs

    torch.manual_seed(0)
    student = YNetStudent().eval()
    x = torch.rand(2, 1, 4, 32, 32)
    loop = student_pairs(student, x, torch.device("cpu"), False, batched=False)
    batched = student_pairs(student, x, torch.device("cpu"), False, batched=True)
    assert len(loop) == len(batched) == 3
    for (a_t, a_tn), (b_t, b_tn) in zip(loop, batched, strict=True):
        assert a_t.shape == b_t.shape == (2, student.emb_ch, 32, 32)
        torch.testing.assert_close(b_t, a_t, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(b_tn, a_tn, rtol=1e-4, atol=1e-5)
    params = list(student.parameters())
    g_loop = torch.autograd.grad(sum(e.square().mean() for p in loop for e in p), params)
    g_batch = torch.autograd.grad(sum(e.square().mean() for p in batched for e in p), params)
    for a, b in zip(g_batch, g_loop, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
