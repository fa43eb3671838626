"""Small host arrays reach the device intact, without the host waiting on a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_mrisr.transfer import upload


def test_upload_to_the_cpu_keeps_values_and_casts():
    values = np.array([[0.25, -1.5], [3.0, 7.0]])
    tensor = upload(values, torch.device("cpu"), torch.float32)
    assert tensor.dtype == torch.float32 and tensor.device.type == "cpu"
    np.testing.assert_array_equal(tensor.numpy(), values.astype(np.float32))
    strided = np.arange(12).reshape(3, 4)[:, 1]  # a column: a strided view
    np.testing.assert_array_equal(upload(strided, torch.device("cpu")).numpy(), [1, 5, 9])
    assert upload([True, False], torch.device("cpu")).dtype == torch.bool


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_non_blocking_uploads_to_a_gpu_arrive_intact_behind_queued_work():
    device = torch.device("cuda")
    big = torch.randn(2048, 2048, device=device)
    arrays = [np.random.default_rng(seed).random(64) for seed in range(200)]
    expected = [array.astype(np.float32) for array in arrays]  # copies
    uploaded = []
    for array in arrays:
        big = big @ big.T / 2048  # keep the GPU busy, so the copies queue behind work
        uploaded.append(upload(array, device, torch.float32))
        array[:] = -1  # the host array changes at once: the copy must not read it later
    torch.cuda.synchronize()
    for tensor, values in zip(uploaded, expected, strict=True):
        np.testing.assert_array_equal(tensor.cpu().numpy(), values)
