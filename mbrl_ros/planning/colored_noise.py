"""Gaussian noise with a power-law spectrum (colored noise), batched in torch.

Timmer & Koenig, "On generating power law noise", A&A 1995; used by iCEM
(Pinneri et al., CoRL 2020) to make action samples temporally correlated:
``beta = 0`` is white noise, ``beta = 2`` red (Brownian-like), and larger
``beta`` puts more power into low frequencies.
"""
from __future__ import annotations

import math

import torch


def colored_noise(beta: float, batch_shape: tuple[int, ...], length: int,
                  generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """Sample unit-variance noise with power spectral density ``S(f) ~ 1 / f**beta``.

    Args:
        beta: spectral exponent (>= 0).
        batch_shape: leading dimensions, e.g. ``(N, A)``.
        length: samples along the last (time) dimension.
        generator: random source.
    Returns:
        Tensor ``(*batch_shape, length)``, float32.
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if length == 1 or beta == 0:
        return torch.randn(*batch_shape, length, generator=generator, device=device)
    freqs = torch.fft.rfftfreq(length, device=device, dtype=torch.float64)
    f_min = 1.0 / length
    scale = freqs.clamp(min=f_min) ** (-beta / 2.0)
    # Normalization of the resulting time series (as in the `colorednoise` reference code).
    w = scale[1:].clone()
    w[-1] *= (1 + (length % 2)) / 2.0
    sigma = 2 * math.sqrt(float((w ** 2).sum())) / length
    shape = (*batch_shape, freqs.numel())
    real = torch.randn(shape, generator=generator, device=device, dtype=torch.float64) * scale
    imag = torch.randn(shape, generator=generator, device=device, dtype=torch.float64) * scale
    if length % 2 == 0:
        imag[..., -1] = 0.0
        real[..., -1] *= math.sqrt(2.0)
    imag[..., 0] = 0.0
    real[..., 0] *= math.sqrt(2.0)
    noise = torch.fft.irfft(torch.complex(real, imag), n=length, dim=-1) / sigma
    return noise.to(torch.float32)
