"""``mrisr models``: the installed models, one line each, the defaults on this machine marked."""

from __future__ import annotations

__all__ = ["list_models_table"]

#: Marks a bundled model that ``mrisr predict`` runs by default on scans of its input.
DEFAULT_MARK = "*"


def _validation_noise(degradation: dict) -> str:
    """Training validates with half the configured noise: say so, the scores are lower for it."""
    noise = float(degradation.get("noise") or 0) / 2
    return f" ({noise:.0%} noise)" if noise else ""


def list_models_table(device: str = "auto") -> str:
    """The installed models, one per line: the input each expects (its ``input_geometry``), how
    it scored, and a mark on the bundled model ``mrisr predict`` runs by default on ``device``
    for each input (:func:`~napari_mrisr.zoo.model_choice.default_bundled`, the rule it
    applies), explained in a footer with the model folders."""
    from napari_mrisr.zoo.folders import bundled_models_dir, list_models, user_models_dir
    from napari_mrisr.zoo.model_choice import default_bundled, device_rule
    from napari_mrisr.zoo.model_fit import ModelGeometry

    infos = list_models()
    if not infos:
        return f"No model installed (user models go in {user_models_dir()})."
    defaults = default_bundled(device)
    expects = {info.name: ModelGeometry.from_meta(info.meta).expects() for info in infos}
    name_width = max(len(info.name) for info in infos)
    expects_width = max(map(len, expects.values()))
    lines = []
    for info in infos:
        degradation = info.meta.get("degradation") or {}
        validation = ((info.meta.get("metrics") or {}).get("validation") or {}).get("model") or {}
        psnr = validation.get("psnr_brain")
        scale = "x" + "x".join(map(str, info.meta["scale"]))
        score = "" if psnr is None else f"val PSNR {psnr:.2f} dB{_validation_noise(degradation)}"
        mark = DEFAULT_MARK if info.name in defaults else " "
        line = (
            f"{mark} {info.name:<{name_width}}  {'bundled' if info.bundled else 'user':<7}  "
            f"{scale:<7} {expects[info.name]:<{expects_width}}  "
            f"{degradation.get('method', '?'):<12} {score}"
        )
        lines.append(line.rstrip())
    _, rule = device_rule(device)
    if defaults:
        lines.append(
            f"{DEFAULT_MARK} mrisr predict's default on this machine for scans of that input "
            f"({rule}; never a GAN)"
        )
    lines.append(f"bundled models: {bundled_models_dir()}")
    lines.append(f"user models: {user_models_dir()}")
    return "\n".join(lines)
