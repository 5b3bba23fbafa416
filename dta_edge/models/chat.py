"""The Qwen3-style chat format: special tokens, the template, and prompt building.

The template follows Qwen3's behaviour that matters for us: ``enable_thinking=False`` pre-fills an
empty think block so the model answers directly; with thinking on, the model opens ``<think>``
itself. It is kept small so llama.cpp's template engine renders it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

from dta_edge.records import ChatMessage

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)
ADDED_TOKENS = (THINK_OPEN, THINK_CLOSE)
EMPTY_THINK = f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"

DEFAULT_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def chat_template() -> str:
    """The Jinja chat template stored with every tiny model."""
    return files("dta_edge.models").joinpath("qwen3_chat.jinja").read_text(encoding="utf-8")


def user_prompt(question: str, instruction: str | None = DEFAULT_INSTRUCTION) -> str:
    """The user turn for a problem: the question, then the answer-format instruction."""
    return f"{question}\n{instruction}" if instruction else question


def render_prompt(user: str, *, thinking: bool) -> str:
    """Render a single-turn prompt exactly as the template does (no tokenizer needed)."""
    head = f"{IM_START}user\n{user}{IM_END}\n{IM_START}assistant\n"
    return head if thinking else head + EMPTY_THINK


def render_completion(solution: str, *, reasoning: str | None) -> str:
    """The assistant text that follows :func:`render_prompt`, closed by ``<|im_end|>``."""
    if reasoning is None:
        return f"{solution}{IM_END}"
    return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{solution}{IM_END}"


class ChatTemplate:
    """A chat template compiled once (sandboxed Jinja, as transformers renders it, in a budget).

    Compiling costs milliseconds, so whoever renders many prompts (a backend, a scorer, training)
    keeps one of these; nothing is cached at module level. The template comes from a model we
    did not write: it is tried on a short conversation when compiled, so a template that hangs,
    raises or reaches for unsafe attributes is refused (naming ``origin``) before any work.
    """

    def __init__(self, source: str | None, origin: str = "the chat template") -> None:
        """Compile ``source``, the Jinja text of a tokenizer's chat template.

        Raises:
            TemplateFault: no template, a syntax error, or a trial render that fails.
        """
        from dta_edge.models.template_sandbox import SandboxedTemplate, TemplateFault

        if not isinstance(source, str) or not source.strip():
            raise TemplateFault(origin, ["no chat template (the tokenizer or GGUF holds none)"])
        self.origin = origin
        self._template = SandboxedTemplate(source, origin, trim_blocks=True, lstrip_blocks=True)
        for thinking in (False, True):
            self.render([ChatMessage(role="user", content="1 + 1?")], thinking=thinking)

    def render(self, messages: Sequence[ChatMessage], *, thinking: bool) -> str:
        """The conversation with the generation prompt opened, thinking on or off."""
        return self._template.render(
            messages=[m.model_dump(exclude_none=True) for m in messages],
            add_generation_prompt=True,
            enable_thinking=thinking,
            bos_token="",
            eos_token="",
        )


def render_chat(
    template: str | ChatTemplate, messages: Sequence[ChatMessage], *, thinking: bool
) -> str:
    """Render a chat template as transformers does (sandboxed Jinja, generation prompt on)."""
    compiled = template if isinstance(template, ChatTemplate) else ChatTemplate(template)
    return compiled.render(messages, thinking=thinking)


def student_prompt(
    template: str | ChatTemplate, user: str | Sequence[ChatMessage], *, thinking: bool = False
) -> str:
    """The text the student sees before it answers: its own chat template, thinking off.

    DTA aligns solutions to what the student writes after exactly this prompt, so training, the
    Phase II NLL, token shift, drift and the model check all render it here (a test pins that they
    agree token for token). ``user`` is the user turn, or the conversation before the answer.
    """
    messages = [ChatMessage(role="user", content=user)] if isinstance(user, str) else list(user)
    return render_chat(template, messages, thinking=thinking)
