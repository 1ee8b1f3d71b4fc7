"""Node classes the simulator knows, described the way `/object_info` shows them.

Each `NodeSpec` mirrors one ComfyUI core node (inputs, outputs, category,
output-node flag) closely enough that validation, `/object_info` and the
execution order behave like a v0.3.64 server. Combo lists of model names come
from the model catalogue, so they change with `--models`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from gentui.simulator.catalogue import ModelCatalogue

# comfy/samplers.py at v0.3.64: 42 sampler names, 9 schedulers.
SAMPLERS = [
    "euler",
    "euler_cfg_pp",
    "euler_ancestral",
    "euler_ancestral_cfg_pp",
    "heun",
    "heunpp2",
    "dpm_2",
    "dpm_2_ancestral",
    "lms",
    "dpm_fast",
    "dpm_adaptive",
    "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde",
    "dpmpp_sde_gpu",
    "dpmpp_2m",
    "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun",
    "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde",
    "dpmpp_3m_sde_gpu",
    "ddpm",
    "lcm",
    "ipndm",
    "ipndm_v",
    "deis",
    "res_multistep",
    "res_multistep_cfg_pp",
    "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp",
    "gradient_estimation",
    "gradient_estimation_cfg_pp",
    "er_sde",
    "seeds_2",
    "seeds_3",
    "sa_solver",
    "sa_solver_pece",
    "ddim",
    "uni_pc",
    "uni_pc_bh2",
]
SCHEDULERS = [
    "simple",
    "sgm_uniform",
    "karras",
    "exponential",
    "ddim_uniform",
    "beta",
    "normal",
    "linear_quadratic",
    "kl_optimal",
]
CLIP_TYPES = [
    "stable_diffusion",
    "stable_cascade",
    "sd3",
    "stable_audio",
    "mochi",
    "ltxv",
    "pixart",
    "cosmos",
    "lumina2",
    "wan",
    "hidream",
    "chroma",
    "ace",
    "omnigen2",
    "qwen_image",
    "hunyuan_image",
]
MAX_RESOLUTION = 16384
SEED_MAX = 0xFFFFFFFFFFFFFFFF

# An input spec is (type, options); type is a string ("INT", "MODEL") or a list (a combo).
InputSpec = tuple[Any, dict[str, Any]]
Inputs = Callable[[ModelCatalogue], dict[str, dict[str, InputSpec]]]


@dataclass(frozen=True)
class NodeSpec:
    """One node class: what it takes, what it returns, how `/object_info` shows it."""

    name: str
    inputs: Inputs
    return_types: tuple[str, ...]
    category: str
    display_name: str = ""
    description: str = ""
    output_node: bool = False
    output_tooltips: tuple[str, ...] | None = None
    sampler: bool = False  # runs `steps` timed steps and reports progress
    volatile: bool = False  # IS_CHANGED returns the time: never taken from the cache
    hidden: dict[str, str] = field(default_factory=dict)

    def input_types(self, cat: ModelCatalogue) -> dict[str, dict[str, InputSpec]]:
        groups = self.inputs(cat)
        if self.hidden:
            groups = {**groups, "hidden": dict(self.hidden)}
        return groups

    def info(self, cat: ModelCatalogue) -> dict[str, Any]:
        """The `/object_info/{class}` entry, key for key like nodes.py classes produce."""
        groups = self.input_types(cat)
        info: dict[str, Any] = {
            "input": {
                g: {k: _jsonable(v) for k, v in items.items()} if g != "hidden" else items
                for g, items in groups.items()
            },
            "input_order": {g: list(items) for g, items in groups.items()},
            "output": list(self.return_types),
            "output_is_list": [False] * len(self.return_types),
            "output_name": list(self.return_types),
            "name": self.name,
            "display_name": self.display_name or self.name,
            "description": self.description,
            "python_module": "nodes",
            "category": self.category,
            "output_node": self.output_node,
        }
        if self.output_tooltips is not None:
            info["output_tooltips"] = list(self.output_tooltips)
        return info


def _jsonable(spec: InputSpec) -> list[Any]:
    typ, opts = spec
    return [typ, opts] if opts else [typ]


def _t(tooltip: str, **kw: Any) -> dict[str, Any]:
    return {**kw, "tooltip": tooltip}


def _seed(tooltip: str | None = None) -> InputSpec:
    opts: dict[str, Any] = {"default": 0, "min": 0, "max": SEED_MAX, "control_after_generate": True}
    if tooltip:
        opts["tooltip"] = tooltip
    return ("INT", opts)


_IMAGE_HIDDEN = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}


def _build() -> dict[str, NodeSpec]:
    specs = [
        NodeSpec(
            "CheckpointLoaderSimple",
            lambda c: {
                "required": {"ckpt_name": (c.names("checkpoints"), _t("The name of the checkpoint (model) to load."))}
            },
            ("MODEL", "CLIP", "VAE"),
            "loaders",
            "Load Checkpoint",
            "Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
            output_tooltips=(
                "The model used for denoising latents.",
                "The CLIP model used for encoding text prompts.",
                "The VAE model used for encoding and decoding images to and from latent space.",
            ),
        ),
        NodeSpec(
            "UNETLoader",
            lambda c: {
                "required": {
                    "unet_name": (c.names("diffusion_models"), {}),
                    "weight_dtype": (["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"], {}),
                }
            },
            ("MODEL",),
            "advanced/loaders",
            "Load Diffusion Model",
        ),
        NodeSpec(
            "CLIPLoader",
            lambda c: {
                "required": {"clip_name": (c.names("text_encoders"), {}), "type": (CLIP_TYPES, {})},
                "optional": {"device": (["default", "cpu"], {"advanced": True})},
            },
            ("CLIP",),
            "advanced/loaders",
            "Load CLIP",
        ),
        NodeSpec(
            "VAELoader",
            lambda c: {"required": {"vae_name": (c.names("vae"), {})}},
            ("VAE",),
            "loaders",
            "Load VAE",
        ),
        NodeSpec(
            "LoraLoader",
            lambda c: {
                "required": {
                    "model": ("MODEL", _t("The diffusion model the LoRA will be applied to.")),
                    "clip": ("CLIP", _t("The CLIP model the LoRA will be applied to.")),
                    "lora_name": (c.names("loras"), _t("The name of the LoRA.")),
                    "strength_model": (
                        "FLOAT",
                        _t(
                            "How strongly to modify the diffusion model. This value can be negative.",
                            default=1.0,
                            min=-100.0,
                            max=100.0,
                            step=0.01,
                        ),
                    ),
                    "strength_clip": (
                        "FLOAT",
                        _t(
                            "How strongly to modify the CLIP model. This value can be negative.",
                            default=1.0,
                            min=-100.0,
                            max=100.0,
                            step=0.01,
                        ),
                    ),
                }
            },
            ("MODEL", "CLIP"),
            "loaders",
            "Load LoRA",
            "LoRAs are used to modify diffusion and CLIP models, altering the way in which latents are denoised such "
            "as applying styles. Multiple LoRA nodes can be linked together.",
            output_tooltips=("The modified diffusion model.", "The modified CLIP model."),
        ),
        NodeSpec(
            "LoraLoaderModelOnly",
            lambda c: {
                "required": {
                    "model": ("MODEL", {}),
                    "lora_name": (c.names("loras"), {}),
                    "strength_model": ("FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01}),
                }
            },
            ("MODEL",),
            "loaders",
            "LoraLoaderModelOnly",
        ),
        NodeSpec(
            "CLIPSetLastLayer",
            lambda c: {
                "required": {
                    "clip": ("CLIP", {}),
                    "stop_at_clip_layer": ("INT", {"default": -1, "min": -24, "max": -1, "step": 1}),
                }
            },
            ("CLIP",),
            "conditioning",
            "CLIP Set Last Layer",
        ),
        NodeSpec(
            "CLIPTextEncode",
            lambda c: {
                "required": {
                    "text": ("STRING", _t("The text to be encoded.", multiline=True, dynamicPrompts=True)),
                    "clip": ("CLIP", _t("The CLIP model used for encoding the text.")),
                }
            },
            ("CONDITIONING",),
            "conditioning",
            "CLIP Text Encode (Prompt)",
            "Encodes a text prompt using a CLIP model into an embedding that can be used to guide the diffusion "
            "model towards generating specific images.",
            output_tooltips=("A conditioning containing the embedded text used to guide the diffusion model.",),
        ),
        NodeSpec(
            "ConditioningZeroOut",
            lambda c: {"required": {"conditioning": ("CONDITIONING", {})}},
            ("CONDITIONING",),
            "advanced/conditioning",
            "ConditioningZeroOut",
        ),
        NodeSpec(
            "ModelSamplingAuraFlow",
            lambda c: {
                "required": {
                    "model": ("MODEL", {}),
                    "shift": ("FLOAT", {"default": 1.73, "min": 0.0, "max": 100.0, "step": 0.01}),
                }
            },
            ("MODEL",),
            "advanced/model",
            "ModelSamplingAuraFlow",
        ),
        NodeSpec(
            "EmptyLatentImage",
            lambda c: {
                "required": {
                    "width": (
                        "INT",
                        _t(
                            "The width of the latent images in pixels.", default=512, min=16, max=MAX_RESOLUTION, step=8
                        ),
                    ),
                    "height": (
                        "INT",
                        _t(
                            "The height of the latent images in pixels.",
                            default=512,
                            min=16,
                            max=MAX_RESOLUTION,
                            step=8,
                        ),
                    ),
                    "batch_size": ("INT", _t("The number of latent images in the batch.", default=1, min=1, max=4096)),
                }
            },
            ("LATENT",),
            "latent",
            "Empty Latent Image",
            "Create a new batch of empty latent images to be denoised via sampling.",
            output_tooltips=("The empty latent image batch.",),
        ),
        NodeSpec(
            "EmptySD3LatentImage",
            lambda c: {
                "required": {
                    "width": ("INT", {"default": 1024, "min": 16, "max": MAX_RESOLUTION, "step": 16}),
                    "height": ("INT", {"default": 1024, "min": 16, "max": MAX_RESOLUTION, "step": 16}),
                    "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
                }
            },
            ("LATENT",),
            "latent/sd3",
            "EmptySD3LatentImage",
        ),
        NodeSpec(
            "KSampler",
            lambda c: {
                "required": {
                    "model": ("MODEL", _t("The model used for denoising the input latent.")),
                    "seed": _seed("The random seed used for creating the noise."),
                    "steps": (
                        "INT",
                        _t("The number of steps used in the denoising process.", default=20, min=1, max=10000),
                    ),
                    "cfg": (
                        "FLOAT",
                        _t(
                            "The Classifier-Free Guidance scale balances creativity and adherence to the prompt. "
                            "Higher values result in images more closely matching the prompt however too high "
                            "values will negatively impact quality.",
                            default=8.0,
                            min=0.0,
                            max=100.0,
                            step=0.1,
                            round=0.01,
                        ),
                    ),
                    "sampler_name": (
                        SAMPLERS,
                        _t(
                            "The algorithm used when sampling, this can affect the quality, speed, "
                            "and style of the generated output."
                        ),
                    ),
                    "scheduler": (
                        SCHEDULERS,
                        _t("The scheduler controls how noise is gradually removed to form the image."),
                    ),
                    "positive": (
                        "CONDITIONING",
                        _t("The conditioning describing the attributes you want to include in the image."),
                    ),
                    "negative": (
                        "CONDITIONING",
                        _t("The conditioning describing the attributes you want to exclude from the image."),
                    ),
                    "latent_image": ("LATENT", _t("The latent image to denoise.")),
                    "denoise": (
                        "FLOAT",
                        _t(
                            "The amount of denoising applied, lower values will maintain the structure of "
                            "the initial image allowing for image to image sampling.",
                            default=1.0,
                            min=0.0,
                            max=1.0,
                            step=0.01,
                        ),
                    ),
                }
            },
            ("LATENT",),
            "sampling",
            "KSampler",
            "Uses the provided model, positive and negative conditioning to denoise the latent image.",
            output_tooltips=("The denoised latent.",),
            sampler=True,
        ),
        NodeSpec(
            "KSamplerAdvanced",
            lambda c: {
                "required": {
                    "model": ("MODEL", {}),
                    "add_noise": (["enable", "disable"], {}),
                    "noise_seed": _seed(),
                    "steps": ("INT", {"default": 20, "min": 1, "max": 10000}),
                    "cfg": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01}),
                    "sampler_name": (SAMPLERS, {}),
                    "scheduler": (SCHEDULERS, {}),
                    "positive": ("CONDITIONING", {}),
                    "negative": ("CONDITIONING", {}),
                    "latent_image": ("LATENT", {}),
                    "start_at_step": ("INT", {"default": 0, "min": 0, "max": 10000}),
                    "end_at_step": ("INT", {"default": 10000, "min": 0, "max": 10000}),
                    "return_with_leftover_noise": (["disable", "enable"], {}),
                }
            },
            ("LATENT",),
            "sampling",
            "KSampler (Advanced)",
            sampler=True,
        ),
        NodeSpec(
            "VAEDecode",
            lambda c: {
                "required": {
                    "samples": ("LATENT", _t("The latent to be decoded.")),
                    "vae": ("VAE", _t("The VAE model used for decoding the latent.")),
                }
            },
            ("IMAGE",),
            "latent",
            "VAE Decode",
            "Decodes latent images back into pixel space images.",
            output_tooltips=("The decoded image.",),
        ),
        NodeSpec(
            "SaveImage",
            lambda c: {
                "required": {
                    "images": ("IMAGE", _t("The images to save.")),
                    "filename_prefix": (
                        "STRING",
                        _t(
                            "The prefix for the file to save. This may include formatting "
                            "information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% "
                            "to include values from nodes.",
                            default="ComfyUI",
                        ),
                    ),
                }
            },
            (),
            "image",
            "Save Image",
            "Saves the input images to your ComfyUI output directory.",
            output_node=True,
            hidden=_IMAGE_HIDDEN,
        ),
        NodeSpec(
            "PreviewImage",
            lambda c: {"required": {"images": ("IMAGE", {})}},
            (),
            "image",
            "Preview Image",
            "Saves the input images to your ComfyUI output directory.",
            output_node=True,
            hidden=_IMAGE_HIDDEN,
        ),
        NodeSpec(
            # custom_nodes/websocket_image_save.py, shipped with ComfyUI.
            "SaveImageWebsocket",
            lambda c: {"required": {"images": ("IMAGE", {})}},
            (),
            "api/image",
            "SaveImageWebsocket",
            output_node=True,
            volatile=True,
        ),
    ]
    return {s.name: s for s in specs}


NODE_SPECS: dict[str, NodeSpec] = _build()


def object_info(cat: ModelCatalogue, node_class: str | None = None) -> dict[str, Any]:
    """`/object_info` (all classes) or `/object_info/{class}` (`{}` when unknown)."""
    if node_class is None:
        return {name: spec.info(cat) for name, spec in NODE_SPECS.items()}
    spec = NODE_SPECS.get(node_class)
    return {node_class: spec.info(cat)} if spec else {}
