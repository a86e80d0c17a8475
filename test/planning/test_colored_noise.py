"""iCEM's colored noise has the requested power-law spectrum and unit scale."""
import numpy as np
import pytest
import torch

from mbrl_ros.planning.colored_noise import colored_noise


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0, 3.0])
def test_power_spectrum_slope(beta):
    length = 256
    noise = colored_noise(beta, (4000,), length, torch.Generator().manual_seed(0)).double().numpy()
    psd = (np.abs(np.fft.rfft(noise, axis=-1)) ** 2).mean(0)
    freqs = np.fft.rfftfreq(length)
    band = slice(2, length // 2 - 1)  # skip DC and Nyquist
    slope = np.polyfit(np.log(freqs[band]), np.log(psd[band]), 1)[0]
    assert abs(slope + beta) < 0.1, slope


def test_shape_determinism_and_scale():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = colored_noise(2.0, (3, 2), 20, g1)
    b = colored_noise(2.0, (3, 2), 20, g2)
    assert a.shape == (3, 2, 20) and a.dtype == torch.float32 and torch.equal(a, b)
    big = colored_noise(2.0, (20000,), 20, torch.Generator().manual_seed(1))
    assert 0.8 < float(big.std()) < 1.4  # unit-variance construction (finite-length bias)


def test_rejects_negative_beta():
    with pytest.raises(ValueError):
        colored_noise(-1.0, (2,), 8)
