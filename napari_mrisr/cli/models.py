"""``mrisr models``: the installed models, one line each."""

from __future__ import annotations

__all__ = ["list_models_table"]


def _validation_noise(degradation: dict) -> str:
    """Training validates with half the configured noise: say so, the scores are lower for it."""
    noise = float(degradation.get("noise") or 0) / 2
    return f" ({noise:.0%} noise)" if noise else ""


def list_models_table() -> str:
    """The installed models, one per line: what each expects and how it scored."""
    from napari_mrisr.zoo.folders import list_models

    lines = []
    for info in list_models():
        degradation = info.meta.get("degradation") or {}
        validation = ((info.meta.get("metrics") or {}).get("validation") or {}).get("model") or {}
        psnr = validation.get("psnr_brain")
        lines.append(
            f"{info.name:<24} {'bundled' if info.bundled else 'user':<8} "
            f"x{'x'.join(map(str, info.meta['scale'])):<8} {degradation.get('method', '?'):<14} "
            + (f"val PSNR {psnr:.2f} dB{_validation_noise(degradation)}  " if psnr is not None else "")
            + str(info.path)
        )
    return "\n".join(lines) or "No model installed."
