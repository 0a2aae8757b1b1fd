"""Speed-ups of the CPU training path must not change what is computed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.nets.unet3d import ZLastConv3d


@pytest.mark.parametrize("kernel, padding, stride, bias", [
    ((3, 3, 3), 1, 1, False),
    ((1, 3, 3), (0, 1, 1), 1, False),
    ((1, 5, 5), (0, 2, 2), (1, 2, 2), True),
    ((1, 1, 1), 0, 1, True),
])
def test_z_last_convolution_equals_the_plain_one_forward_and_backward(kernel, padding, stride,
                                                                       bias):
    torch.manual_seed(0)
    plain = nn.Conv3d(4, 6, kernel, stride=stride, padding=padding, bias=bias)
    fast = ZLastConv3d(4, 6, kernel, stride=stride, padding=padding, bias=bias)
    fast.load_state_dict(plain.state_dict())  # same parameters, same state_dict keys
    x = torch.rand(1, 4, 5, 12, 10, requires_grad=True)
    y_plain, y_fast = plain(x), fast(x)
    assert y_fast.shape == y_plain.shape
    torch.testing.assert_close(y_fast, y_plain, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(y_plain)
    grads_plain = torch.autograd.grad(y_plain, [x, *plain.parameters()], g)
    grads_fast = torch.autograd.grad(y_fast, [x, *fast.parameters()], g)
    for a, b in zip(grads_fast, grads_plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
