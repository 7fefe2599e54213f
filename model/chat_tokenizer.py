"""The LLM's tokenizer without transformers: the ``tokenizers`` library plus the chat template.

Importing transformers for a tokenizer costs more than half a second; :class:`ChatTokenizer`
keeps what the audio model uses and is saved and loaded by the inference cache in milliseconds.
"""
from __future__ import annotations

import json
from pathlib import Path

TOKENIZER_FILE = "tokenizer.json"
META_FILE = "tokenizer_meta.json"
SPECIAL = ("bos_token", "eos_token", "unk_token", "pad_token")


class Encoding(dict):
    """``{"input_ids": [...]}``, also readable as ``.input_ids``."""

    @property
    def input_ids(self) -> list[int]:
        return self["input_ids"]


class ChatTokenizer:
    """A transformers tokenizer reduced to what the audio model uses.

    A transformers tokenizer is a ``tokenizers.Tokenizer`` (the "backend") with special-token
    names, a Jinja chat template and a few decoding rules around it. :meth:`from_hf` keeps the
    backend as transformers configured it (its post-processor included), the special tokens,
    the template, and whether decoding cleans up spaces. The cache writes it with :meth:`save`
    and a later start reads it with :meth:`load`.

    The methods are the subset of the transformers API that ``model.audio_lm`` and
    ``model.projector`` call, with transformers' semantics: ``tok(text, add_special_tokens=...)
    ["input_ids"]``, ``convert_tokens_to_ids``, ``apply_chat_template(messages, tokenize=False,
    add_generation_prompt=...)`` (rendered like transformers: sandboxed Jinja, ``trim_blocks``,
    ``lstrip_blocks``, the special tokens as variables), ``decode(ids, skip_special_tokens=...)``.
    """

    def __init__(self, backend, special: dict[str, str | None], chat_template: str | None,
                 clean_up_spaces: bool = False):
        self.backend = backend  # tokenizers.Tokenizer
        self.special = {k: special.get(k) for k in SPECIAL}
        self.chat_template = chat_template
        self.clean_up_spaces = bool(clean_up_spaces)
        self._template = None

    # --- persistence ----------------------------------------------------------------------

    @classmethod
    def from_hf(cls, tok) -> ChatTokenizer:
        """From a transformers fast tokenizer (what the audio model was built with)."""
        from tokenizers import Tokenizer

        backend = Tokenizer.from_str(tok.backend_tokenizer.to_str())
        clean = bool(getattr(tok, "clean_up_tokenization_spaces", False))
        if clean and type(tok.backend_tokenizer.model).__name__ == "BPE":
            # transformers skips the clean-up for BPE models unless told to corrupt the output
            clean = bool(getattr(tok, "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", False))
        return cls(backend, {k: getattr(tok, k, None) for k in SPECIAL}, tok.chat_template, clean)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.backend.save(str(folder / TOKENIZER_FILE))
        meta = {"special": self.special, "chat_template": self.chat_template,
                "clean_up_spaces": self.clean_up_spaces}
        (folder / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> ChatTokenizer:
        from tokenizers import Tokenizer

        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        return cls(Tokenizer.from_file(str(folder / TOKENIZER_FILE)), meta["special"], meta["chat_template"],
                   meta.get("clean_up_spaces", False))

    # --- the transformers API subset ----------------------------------------------------------

    def __len__(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def __call__(self, text: str, add_special_tokens: bool = True) -> Encoding:
        if not isinstance(text, str):
            raise TypeError("ChatTokenizer encodes one string at a time")
        return Encoding(input_ids=self.backend.encode(text, add_special_tokens=add_special_tokens).ids)

    def convert_tokens_to_ids(self, token: str) -> int | None:
        i = self.backend.token_to_id(token)
        return self.unk_token_id if i is None else i

    def _id(self, name: str) -> int | None:
        token = self.special.get(name)
        return None if token is None else self.convert_tokens_to_ids(token)

    bos_token = property(lambda self: self.special["bos_token"])
    eos_token = property(lambda self: self.special["eos_token"])
    unk_token = property(lambda self: self.special["unk_token"])
    pad_token = property(lambda self: self.special["pad_token"])
    bos_token_id = property(lambda self: self._id("bos_token"))
    eos_token_id = property(lambda self: self._id("eos_token"))
    pad_token_id = property(lambda self: self._id("pad_token"))

    @property
    def unk_token_id(self) -> int | None:
        token = self.special.get("unk_token")
        return None if token is None else self.backend.token_to_id(token)

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        ids = [ids] if isinstance(ids, int) else list(ids)
        text = self.backend.decode(ids, skip_special_tokens=skip_special_tokens)
        if self.clean_up_spaces:
            for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                         (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
                text = text.replace(a, b)
        return text

    def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool = False,
                            tokenize: bool = True):
        if self.chat_template is None:
            raise ValueError("this tokenizer has no chat template")
        if self._template is None:
            self._template = _compile(self.chat_template)
        variables = {k: v for k, v in self.special.items() if v is not None}
        text = self._template.render(messages=[dict(m) for m in messages], tools=None, documents=None,
                                     add_generation_prompt=add_generation_prompt, **variables)
        return self(text, add_special_tokens=False)["input_ids"] if tokenize else text


def _compile(template: str):
    """The template in a sandboxed Jinja environment configured as transformers configures it."""
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template)
