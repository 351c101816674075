"""Load a model directory into the fast runtime, in the precision that runs best here.

Weights are read tensor by tensor from the checkpoint (safetensors, memory-mapped) and
converted as they arrive, so the fp32 model is never held twice. Precisions:
- `fp32`: exact reference numerics.
- `fp16`: two bytes a weight, in fbgemm's fp16 kernel (x86 CPUs); activations stay fp32. The
  fastest 16-bit path on the CPUs measured, and closer to fp32 than bf16.
- `bf16`: two bytes a weight in oneDNN, activations in bf16 too (CPUs with native bf16).
- `int8`: dynamic int8 quantization of every linear layer and the LM head (a quarter of the
  bytes); activations stay fp32.
- `auto`: fp16 where fbgemm runs, else bf16 where native, else fp32.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: this module is read before a model loads
    import torch
    from torch import nn

    from arxiv_tui.runtime.native.convert import ConversionProgress
    from arxiv_tui.runtime.weights import Checkpoint

from arxiv_tui.runtime.families import Architecture, DecoderModel, architecture, build
from arxiv_tui.runtime.model_template import model_template
from arxiv_tui.runtime.registry import ModelError, check_model_dir
from arxiv_tui.runtime.settings import PRECISIONS, RUNTIMES
from arxiv_tui.runtime.vocabulary import Vocabulary, read_vocabulary


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 natively (on others bf16 is emulated and slower)."""
    if sys.platform != "linux":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def native_precision(cuda: bool = False) -> str:
    """bf16 where the device computes it natively (this CPU, or a CUDA device when training on
    one), else fp32: what training's `auto` means."""
    if cuda:
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def resolve_precision(precision: str) -> str:
    """Turn `auto` into the concrete precision to run a model in: fp16 where fbgemm's fp16
    linears run (x86 CPUs), else the native one."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    from arxiv_tui.runtime.packed import can_pack_half

    return "fp16" if can_pack_half() else native_precision()


def compute_dtype(precision: str) -> torch.dtype:
    """The torch dtype a concrete precision computes in (fp16 and int8 models compute in fp32)."""
    import torch

    return torch.bfloat16 if precision == "bf16" else torch.float32


def _quantize_int8(model: nn.Module) -> None:
    """Replace every nn.Linear (blocks and LM head) with a dynamically quantized int8 one."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notice pointing at torchao
        quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


@dataclass
class LoadedModel:
    """A model ready for the engine: the runtime, its tokenizer and how it was loaded."""

    model: DecoderModel  # the family's PyTorch module, or the OpenVINO graph
    tokenizer: Any  # a transformers tokenizer
    vocabulary: Vocabulary
    directory: Path
    precision: str
    context_length: int
    family: str
    parameters: int  # as stored in the checkpoint (a tied head once)
    template: str  # the one the model was trained with ("" for none)
    runtime: str = "torch"  # "openvino" or "torch"
    notice: str = ""  # why `auto` fell back to the PyTorch runtime, for the user to read


def read_config(directory: Path) -> tuple[Any, Architecture]:
    """`directory`'s transformers config (its family already checked by `check_model_dir`) and
    what it says about running it here; ModelError if it does not parse or asks for something
    the runtime lacks."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(directory)
        return config, architecture(config)
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise ModelError(f"{directory}/config.json is not a usable config: {one_line(exc)}") from None


def load_model(
    directory: Path,
    precision: str = "auto",
    runtime: str = "auto",
    on_progress: Callable[[ConversionProgress], None] | None = None,
) -> LoadedModel:
    """Load `directory` (already resolved) into a runtime; ModelError if it cannot be used.

    `runtime` "auto" runs OpenVINO where it is installed and the model converts (the conversion
    reports to `on_progress` the first time), and otherwise the PyTorch runtime, saying why in
    `notice`; "openvino" or "torch" runs that one or fails.
    """
    from transformers import AutoTokenizer

    check_model_dir(directory)
    if runtime not in RUNTIMES:
        raise ModelError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    config, arch = read_config(directory)
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory)
        vocabulary = read_vocabulary(tokenizer, config.vocab_size, directory)
    except Exception as exc:  # noqa: BLE001 - tokenizers raise many unrelated types for a broken file
        raise ModelError(f"cannot load the tokenizer in {directory}: {one_line(exc)}") from None
    model, concrete, parameters, used, notice = _runtime_model_for(
        directory, config, arch, precision, runtime, on_progress
    )
    return LoadedModel(
        model,
        tokenizer,
        vocabulary,
        directory,
        concrete,
        arch.context_length,
        arch.family,
        parameters,
        model_template(directory),
        used,
        notice,
    )


def _runtime_model_for(
    directory: Path,
    config: Any,
    arch: Architecture,
    precision: str,
    runtime: str,
    on_progress: Callable[[ConversionProgress], None] | None,
) -> tuple[DecoderModel, str, int, str, str]:
    """The model on the runtime `runtime` picks: (model, concrete precision, parameters, the
    runtime used, why `auto` fell back to PyTorch or "")."""
    notice = ""
    if runtime != "torch":
        missing = native_runtime_missing()
        if missing and runtime == "openvino":
            raise ModelError(missing)
        notice = f"{missing}; using the PyTorch runtime" if missing else ""
        if not missing:
            try:
                concrete = resolve_native_precision(precision)
                model = _native_model(directory, config, arch, concrete, on_progress)
                return model, concrete, _parameter_count(directory), "openvino", ""
            except ModelError as exc:
                if runtime == "openvino":
                    raise
                notice = f"{exc}; using the PyTorch runtime"
    if precision == "int4":
        raise ModelError(notice.removesuffix("; using the PyTorch runtime") or "int4 needs the OpenVINO runtime")
    model, concrete, parameters = _torch_model(directory, config, arch, precision)
    return model, concrete, parameters, "torch", notice


# The oldest OpenVINO whose CPU plugin fuses the stateful cache into its attention kernel and
# reads int4 weights in groups, as the graph here is built for.
MIN_OPENVINO = (2025, 1)


def native_runtime_missing() -> str:
    """Why the OpenVINO runtime cannot run here, in one line; "" if it can."""
    try:
        import openvino
    except ImportError:
        return "OpenVINO is not installed (pip install openvino)"
    try:
        version = tuple(int(part) for part in openvino.__version__.split(".")[:2])
    except ValueError:
        return ""  # a development build: let it try
    if version < MIN_OPENVINO:
        need = ".".join(map(str, MIN_OPENVINO))
        return f"OpenVINO {openvino.__version__} is too old (arxiv-tui needs {need} or newer)"
    return ""


def resolve_native_precision(precision: str) -> str:
    """`auto` on OpenVINO: the fewest bits whose quality holds. int4 (an eighth of fp32's bytes
    in the blocks) stayed within 3% of fp32's held-out loss on both families measured, and int8
    within 0.5% (docs/performance.md); `--precision int8` trades a little speed for the closer one."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return "int4" if precision == "auto" else precision


def _parameter_count(directory: Path) -> int:
    from arxiv_tui.runtime.weights import Checkpoint

    return Checkpoint(directory).parameter_count()


def _native_model(
    directory: Path,
    config: Any,
    arch: Architecture,
    precision: str,
    on_progress: Callable[[ConversionProgress], None] | None,
) -> DecoderModel:
    """`directory`'s model on OpenVINO; ModelError (one line) if it cannot be converted or run."""
    from arxiv_tui.runtime.native.convert import ConversionError
    from arxiv_tui.runtime.native.model import open_native

    try:
        return open_native(
            directory, config, arch.family, arch.context_length, precision, cpu_has_native_bf16(), on_progress
        )
    except KeyError as exc:
        raise ModelError(
            f"the weights in {directory} lack {exc.args[0]!r}; is it a {arch.family} checkpoint?"
        ) from None
    except ConversionError as exc:
        raise ModelError(str(exc)) from None
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"OpenVINO cannot run {directory}: {one_line(exc)[:300]}") from None


def _torch_model(directory: Path, config: Any, arch: Architecture, precision: str) -> tuple[DecoderModel, str, int]:
    """The PyTorch runtime's model, the concrete precision it runs in and its parameter count."""
    from arxiv_tui.runtime.packed import can_pack_half
    from arxiv_tui.runtime.weights import BeyondHalfRange

    concrete = resolve_precision(precision)
    if "OMP_NUM_THREADS" not in os.environ:
        # One thread: with two, each of a step's hundreds of small operations waits for the thread
        # whose core another program took, so one busy core made a request many times slower;
        # one thread holds its speed (docs/performance.md has both).
        import torch

        torch.set_num_threads(1)
    if concrete == "fp16" and not can_pack_half():
        raise ModelError("fp16 needs fbgemm's fp16 kernels, which this CPU lacks; use bf16 or fp32")
    try:
        model, checkpoint = _runtime_model(directory, config, arch, concrete)
    except BeyondHalfRange as exc:
        if precision != "auto":
            raise ModelError(f"{directory} cannot run in fp16: {exc}; use bf16 or fp32") from None
        concrete = native_precision()  # `auto` picks the next best for this checkpoint
        model, checkpoint = _runtime_model(directory, config, arch, concrete)
    return model, concrete, checkpoint.parameter_count()


def _runtime_model(directory: Path, config: Any, arch: Architecture, precision: str) -> tuple[DecoderModel, Checkpoint]:
    """The family's runtime model of `directory` in concrete `precision`, its linears packed, and
    the checkpoint it was read from; ModelError for weights that are missing or unreadable,
    BeyondHalfRange for weights fp16 cannot hold."""
    import torch
    from torch import nn

    from arxiv_tui.runtime.packed import pack_half_linears, pack_linears
    from arxiv_tui.runtime.weights import BeyondHalfRange, Checkpoint

    dtype = compute_dtype(precision)
    try:
        checkpoint = Checkpoint(directory, matrices=torch.float16 if precision == "fp16" else None)
        model = build(config, checkpoint, dtype)
    except KeyError as exc:
        raise ModelError(
            f"the weights in {directory} lack {exc.args[0]!r}; is it a {arch.family} checkpoint?"
        ) from None
    except BeyondHalfRange:
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors/torch raise several types for a corrupt file
        raise ModelError(f"cannot read the weights in {directory}: {one_line(exc)}") from None
    assert isinstance(model, nn.Module)  # every family's runtime is one
    if precision == "int8":
        _quantize_int8(model)
    elif precision == "fp16":
        pack_half_linears(model)
    else:
        pack_linears(model, dtype)
    return model, checkpoint


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (tokenizers and torch put newlines in theirs)."""
    return " ".join(str(exc).split())
