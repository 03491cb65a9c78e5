"""Markup -> the plain text a reader sees: Markdown, reStructuredText and HTML fragments.

Snippets and embeddings should hold what a person reads, not `**`, `:ref:` or `<!-- -->`, and a
title should be the document's heading, not its front matter fence. Every function here is pure
(text in, text out), so it is cheap to test and never touches the file system: a reST
`.. include::` is dropped, never followed.

- Markdown is parsed by markdown-it-py (CommonMark plus tables and strikethrough) and rendered
  from its token stream. The MyST extensions Sphinx projects write (pip's docs among them) are
  understood too: `{ref}\`text <target>\`` roles, ```` ```{note} ```` directive fences (their
  body is Markdown, `{eval-rst}` bodies are reST) and `(label)=` targets.
- reStructuredText is cleaned by a line-based reader here, not docutils: docutils knows none of
  Sphinx's roles and directives (`:ref:`, `:doc:`, `.. code-block::`, `.. toctree::`), which is
  what real documentation folders use, so it reports them as errors and keeps their raw markup;
  it also parses about 140 KB/s and far slower on repeated section names, and it follows
  `.. include::` unless told not to.

Paragraph breaks stay blank lines and list items or table rows stay lines, because the chunker
cuts at sentence ends and line breaks; lines wrapped inside a paragraph are joined, so a sentence
is not cut where its source happened to wrap.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

TITLE_MAX_CHARS = 200


@dataclass(frozen=True)
class Rendered:
    """Plain text of a marked-up document; `title` is "" when the markup names none."""

    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


# -- shared helpers ------------------------------------------------------------------------------

_WORD = re.compile(r"\w")
_CJK = "\u2e80-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_SOFT_BREAK = "\x02"  # marks a line wrapped inside a paragraph until its neighbours are known
_SOFT_BETWEEN_CJK = re.compile(f"(?<=[{_CJK}]) *{_SOFT_BREAK} *(?=[{_CJK}])")
_SPACES = re.compile(r"[ \t]+")
_ANY_SPACE = re.compile(r"\s+")


def clean_title(text: str) -> str:
    """One line, at most TITLE_MAX_CHARS; "" when it holds no letter or digit (`===`, `---`)."""
    line = _SPACES.sub(" ", " ".join(text.split())).strip()
    return line[:TITLE_MAX_CHARS] if _WORD.search(line) else ""


def title_line(text: str, strip_hashes: bool = False) -> str:
    """The first line with a letter or digit in it: lines of only punctuation are rules, not titles."""
    for line in text.splitlines():
        title = clean_title(line.strip().lstrip("#") if strip_hashes else line)
        if title:
            return title
    return ""


def _join_wrapped(pieces: Iterable[str]) -> str:
    """Lines of one paragraph as one line: a space between them, none between two CJK characters
    (Chinese and Japanese do not put spaces between words)."""
    joined = _SOFT_BREAK.join(piece.strip() for piece in pieces)
    return _SOFT_BETWEEN_CJK.sub("", joined).replace(_SOFT_BREAK, " ")


def _collapse_blank_lines(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


# -- HTML fragments ------------------------------------------------------------------------------

_DROPPED_TAGS = ["script", "style", "noscript", "template"]
_BLOCK_TAGS = (
    "address article aside blockquote br dd details div dl dt figcaption figure footer form h1 h2 h3 h4 "
    "h5 h6 header hr li main nav ol p pre section summary table td th tr ul".split()
)
_BLOCK_SET = frozenset(_BLOCK_TAGS)


def drop_html_noise(soup: Any) -> None:
    """Remove what a browser never shows as text: scripts, styles, comments, declarations."""
    from bs4 import Comment, Declaration, Doctype, ProcessingInstruction

    for tag in soup(_DROPPED_TAGS):
        tag.decompose()
    hidden = (Comment, Declaration, Doctype, ProcessingInstruction)
    for node in soup.find_all(string=lambda s: isinstance(s, hidden)):
        node.extract()


def soup_text(soup: Any) -> str:
    """The text of parsed HTML laid out as a browser shows it: white space in the source
    (newlines too) is one space, so inline tags (<a>, <em>, <code>) stay within their line; block
    elements start a new line, <br> breaks one, <pre> keeps its lines.

    One iterative pass over the tree, which is left unchanged: editing the tree (insert_after
    walks to an element's last descendant) and asking each string for a <pre> ancestor both cost
    the depth, so 100,000 nested elements took minutes; this takes a fraction of a second."""
    from bs4 import NavigableString, Tag

    parts: list[str] = []
    in_pre = 0
    stack: list[tuple[Any, bool]] = [(soup, True)]
    while stack:
        node, entering = stack.pop()
        if isinstance(node, NavigableString):
            text = str(node)
            parts.append(text if in_pre else _ANY_SPACE.sub(" ", text))
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if not entering:  # after the element's children
            if name == "pre":
                in_pre -= 1
            if name in _BLOCK_SET:
                parts.append("\n")
            continue
        if name == "br":
            parts.append("\n")
            continue
        if name in _BLOCK_SET:
            parts.append("\n")
        if name == "pre":
            in_pre += 1
        stack.append((node, False))
        stack.extend((child, True) for child in reversed(node.contents))
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return _collapse_blank_lines("\n".join(lines))


def html_fragment_text(fragment: str) -> str:
    """The visible text of a piece of HTML (a Markdown HTML block): tags and comments gone."""
    if "<" not in fragment:
        return fragment.strip()
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, "html.parser")
    drop_html_noise(soup)
    return soup_text(soup)


# -- front matter --------------------------------------------------------------------------------

_FENCES = {"---": ("---", "..."), "+++": ("+++",)}  # YAML (Jekyll, MkDocs), TOML (Hugo)
_KEY_LINE = re.compile(r"[\w-]+\s*[:=]")
_TITLE_LINE = re.compile(r"""^title\s*[:=]\s*(['"]?)(.*?)\1\s*$""", re.M)


def _parse_front_matter(fence: str, block: str) -> dict[str, Any] | None:
    """The block as a mapping, or None if it is not YAML/TOML; never raises."""
    try:
        loaded = tomllib.loads(block) if fence == "+++" else yaml.safe_load(block)
    except (yaml.YAMLError, tomllib.TOMLDecodeError, ValueError, RecursionError):
        return None
    return loaded if isinstance(loaded, dict) else ({} if loaded is None else None)


def _scalar_metadata(values: dict[Any, Any]) -> dict[str, Any]:
    """Scalar front-matter keys (author, date, layout...) as JSON-safe metadata; lists, nested
    mappings and the title itself are left out."""
    metadata: dict[str, Any] = {}
    for key, value in values.items():
        if str(key) == "title" or value is None:
            continue
        if isinstance(value, dt.date | dt.time):
            value = value.isoformat()
        if isinstance(value, str | int | float | bool):
            metadata[str(key)] = value
    return metadata


def split_front_matter(text: str) -> tuple[str, dict[str, Any], str]:
    """(title, metadata, body) of a document that may open with `---` YAML or `+++` TOML front
    matter. A block that does not parse still counts when it looks like `key: value` lines, so a
    typo in the YAML does not turn it into text (or its fence into the title)."""
    first, newline, rest = text.partition("\n")
    fence = first.strip()
    if fence not in _FENCES or not newline:
        return "", {}, text
    lines = rest.split("\n")
    end = next((n for n, line in enumerate(lines) if line.rstrip() in _FENCES[fence]), None)
    if end is None:
        return "", {}, text
    block, body = "\n".join(lines[:end]), "\n".join(lines[end + 1 :])
    values = _parse_front_matter(fence, block)
    if values is None:
        first_key = next((line for line in lines[:end] if line.strip()), "")
        if not _KEY_LINE.match(first_key):
            return "", {}, text
        match = _TITLE_LINE.search(block)
        return clean_title(match.group(2)) if match else "", {}, body
    title = values.get("title")
    return clean_title(str(title)) if title is not None else "", _scalar_metadata(values), body


# -- Markdown ------------------------------------------------------------------------------------


@cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


_BR = re.compile(r"<br\s*/?>", re.I)
_MYST_ROLE = re.compile(r"\{([\w:.+-]+)\}$")  # "{ref}" right before a code span: a MyST role
_MYST_TARGET = re.compile(r"^\([^()\s]+\)=(?:\s+|$)")  # "(label)=" opening a paragraph
_MYST_DIRECTIVE = re.compile(r"\{([\w:.+-]+)\}\s*(.*)")  # a fence's info: "{note}", "{code-block} py"


def _inline_text(token: Token) -> str:
    """Text of an inline token: emphasis and link syntax gone, link text and code kept, images
    dropped (their alt text is mostly badge noise: "build passing"), HTML tags and comments gone."""
    parts: list[str] = []
    for child in token.children or []:
        role = _MYST_ROLE.search(parts[-1]) if parts and child.type == "code_inline" else None
        if role:
            parts[-1] = parts[-1][: role.start()]
            parts.append(_role_text(role.group(1), child.content))
        elif child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(_SOFT_BREAK)
        elif child.type == "hardbreak" or (child.type == "html_inline" and _BR.fullmatch(child.content)):
            parts.append("\n")
    text = _SOFT_BETWEEN_CJK.sub("", "".join(parts)).replace(_SOFT_BREAK, " ")
    text = _MYST_TARGET.sub("", text)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n")).strip()


class _Pieces:
    """Rendered blocks with the right gap: a blank line between blocks, a line break between the
    items of one list or the rows of one table."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.in_run = False

    def block(self, text: str) -> None:
        self._add(text, "\n\n")
        self.in_run = False

    def line(self, text: str) -> None:
        self._add(text, "\n" if self.in_run else "\n\n")
        self.in_run = True

    def end_run(self) -> None:
        self.in_run = False

    def _add(self, text: str, gap: str) -> None:
        if text.strip():
            if self.parts:
                self.parts.append(gap)
            self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)


def _render_markdown(tokens: list[Token]) -> tuple[str, str]:
    """(first heading, plain text) from markdown-it's block tokens."""
    out = _Pieces()
    heading = ""
    lists = 0
    marker = ""
    cells: list[str] = []
    for n, token in enumerate(tokens):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open", "bullet_list_close", "ordered_list_close"):
            lists += 1 if kind.endswith("open") else -1
            if lists == 0 or (lists == 1 and kind.endswith("open")):
                out.end_run()
        elif kind == "list_item_open":
            marker = f"{token.info}{token.markup} " if token.info else ""  # "1. " kept, bullets not
        elif kind in ("table_open", "table_close", "hr"):
            out.end_run()
        elif kind == "tr_open":
            cells = []
        elif kind == "tr_close":
            out.line(" | ".join(cell for cell in cells if cell))
        elif kind == "fence" and (directive := _MYST_DIRECTIVE.fullmatch(token.info.strip())):
            out.block(_myst_directive(directive, token.content))
        elif kind in ("fence", "code_block"):
            out.block(token.content.rstrip("\n"))
        elif kind == "html_block":
            out.block(html_fragment_text(token.content))
        elif kind == "inline":
            text = _inline_text(token)
            parent = tokens[n - 1].type if n else ""
            if parent in ("th_open", "td_open"):
                cells.append(text)
            elif parent == "heading_open":
                heading = heading or clean_title(text)
                out.block(text)
            elif lists and tokens[n - 1].hidden:
                out.line(marker + text)
                marker = ""
            else:
                out.block(marker + text)
                marker = ""
    return heading, out.text()


def _myst_options(body: str) -> str:
    """A MyST directive body without its options: `:key: value` lines or a `---` YAML block."""
    lines = body.split("\n")
    if lines and lines[0].strip() == "---":
        end = next((n for n, line in enumerate(lines[1:], 1) if line.strip() == "---"), 0)
        return "\n".join(lines[end + 1 :])
    return "\n".join(_split_options(lines))


def _myst_directive(match: re.Match[str], content: str) -> str:
    """A ```` ```{name} argument ```` fence by the reST directive rules: a note's body is
    Markdown, `{eval-rst}` holds reST, `{code-block}` code, `{toctree}` nothing to read."""
    kind, argument = match.group(1).rsplit(":", 1)[-1].lower(), match.group(2)
    body = _myst_options(content)
    if kind in _DROPPED_DIRECTIVES:
        return ""
    if kind in _LITERAL_DIRECTIVES:
        return _verbatim(([argument] if kind == "math" and argument else []) + body.split("\n"))
    if kind == "eval-rst":
        return rst_to_text(body).text
    keep_argument = argument and kind not in _NO_TEXT_ARGUMENT and not kind.startswith("auto")
    text = _render_markdown(_markdown().parse(body))[1]
    return "\n\n".join(part for part in (argument if keep_argument else "", text) if part.strip())


def markdown_to_text(source: str) -> Rendered:
    """Front matter out (its `title:` wins, scalar keys become metadata), then the rendered text;
    the title is otherwise the first heading (ATX or setext), else the first line of text."""
    fm_title, metadata, body = split_front_matter(source)
    heading, text = _render_markdown(_markdown().parse(body))
    text = _collapse_blank_lines(text)
    return Rendered(title=fm_title or heading or title_line(text), text=text, metadata=metadata)


# -- reStructuredText ----------------------------------------------------------------------------

_ADORNMENT = re.compile(r"([!-/:-@\[-`{-~])\1+")  # one punctuation character repeated: === --- ~~~
_EXPLICIT = re.compile(r"\.\.(?:\s|$)")
_DIRECTIVE = re.compile(r"([A-Za-z0-9](?:[\w.+:-]*\w)?)\s?::(?:\s+(.*))?$")
_FOOTNOTE = re.compile(r"\[([^\]\s]+)\](?:\s+(.*))?$")
_SUBSTITUTION = re.compile(r"\|([^|]+)\|\s+([\w:-]+)::\s*(.*)$")
_FIELD = re.compile(r":([^:\s`](?:[^:`]|\\:)*):(?:\s+(.*)|$)")
_BULLET = re.compile(r"[-*+\u2022\u2023\u2043](?: +|$)")
_ENUM = r"(?:\d+|#|[A-Za-z]|[ivxlcdmIVXLCDM]+)"
_ENUMERATOR = re.compile(rf"(?:\({_ENUM}\)|{_ENUM}[.)])(?: +|$)")
_LINE_BLOCK = re.compile(r"\|(?: |$)")
_GRID_BORDER = re.compile(r"\+[-=+:]+\+$")
_SIMPLE_BORDER = re.compile(r"=+(?: +=+)+ *$")
_SIMPLE_RULE = re.compile(r"[-=]+(?: +[-=]+)* *$")

# Directives whose content is no prose: navigation, inclusion, configuration, diagrams.
_DROPPED_DIRECTIVES = frozenset(
    "toctree include literalinclude raw image meta contents sectnum section-numbering index highlight "
    "default-role role default-domain currentmodule module program tabularcolumns target-notes title "
    "header footer sectionauthor codeauthor moduleauthor graphviz digraph graph inheritance-diagram "
    "mermaid uml plantuml plot".split()
)
# Directives whose content is code: kept verbatim, no inline markup removed.
_LITERAL_DIRECTIVES = frozenset(
    "code-block code sourcecode doctest testcode testoutput testsetup testcleanup ipython "
    "jupyter-execute productionlist math".split()
)
# Directives whose argument is a language, a path or a class name, not text (their body is kept).
_NO_TEXT_ARGUMENT = frozenset("figure rst-class cssclass container only ifconfig tabs".split())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _dedent(lines: list[str]) -> list[str]:
    depth = min((_indent(line) for line in lines if line.strip()), default=0)
    return [line[depth:] for line in lines]


def _indented_end(lines: list[str], start: int) -> int:
    """The end of the indented block (blank lines included) that starts at `start`."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > 0):
        end += 1
    return end


def _is_adornment(line: str, minimum: int = 2) -> bool:
    return len(line) >= minimum and _ADORNMENT.fullmatch(line) is not None


def _section_title(lines: list[str], i: int) -> tuple[str | None, int]:
    """(title, next line) if a section title starts at line i: text under- and maybe overlined by
    one repeated punctuation character, at least as long as the text or 4 long (docutils' rule)."""
    line = lines[i].rstrip()
    if _is_adornment(line) and i + 2 < len(lines):
        text, under = lines[i + 1].strip(), lines[i + 2].rstrip()
        if text and not _is_adornment(text) and under[:1] == line[0] and _is_adornment(under):
            return text, i + 3
    if i + 1 < len(lines) and line and not _indent(line) and not _is_adornment(line):
        under = lines[i + 1].rstrip()
        if _is_adornment(under) and (len(under) >= 4 or len(under) >= len(line)):
            return line.strip(), i + 2
    return None, i


def _split_options(body: list[str]) -> list[str]:
    """A directive's body without its leading `:option: value` lines."""
    k = 0
    while k < len(body) and _FIELD.match(body[k]):
        k += 1
        while k < len(body) and body[k].strip() and _indent(body[k]) > 0:
            k += 1
    return body[k:]


def _substitutions(lines: list[str]) -> dict[str, str]:
    """`.. |name| replace:: text` definitions (they may come after their use); other kinds
    (image, unicode, date) render as nothing."""
    found: dict[str, str] = {}
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(".. |"):
            match = _SUBSTITUTION.match(stripped[3:])
            if match:
                name, kind, value = match.groups()
                found[name.strip()] = value.strip() if kind == "replace" else ""
    return found


# Inline markup, after docutils' rules loosely: a start string is not preceded by a word
# character, an end string not followed by one. A span cannot run past the next delimiter
# character (and is bounded), so a line of a thousand stray backticks or stars stays linear.
_SPAN = r"(?=\S)([^`]{1,1000}?)(?<=\S)(?<!\\)"
_ROLE_NAME = r"((?:[A-Za-z0-9][\w+.-]*:)*[A-Za-z0-9][\w+.-]*)"
_INLINE_LITERAL = re.compile(r"(?<![\w\\`])``(?=\S)((?:[^`]|`(?!`)){1,2000}?)(?<=\S)``(?![\w`])")
_ROLE_BEFORE = re.compile(rf"(?<![\w\\`]):{_ROLE_NAME}:`{_SPAN}`(?![\w`])")
_ROLE_AFTER = re.compile(rf"(?<![\w\\`])`{_SPAN}`:{_ROLE_NAME}:(?![\w`])")
_REFERENCE = re.compile(rf"(?<![\w\\`])`{_SPAN}`__?(?![\w`])")
_INTERPRETED = re.compile(rf"(?<![\w\\`:])`{_SPAN}`(?![\w`])")
_INLINE_TARGET = re.compile(rf"(?<![\w\\])_`{_SPAN}`")
_FOOTNOTE_REF = re.compile(r" ?\[(?:#[\w-]*|\*|\d+|[A-Za-z][\w.-]*)\]_(?!\w)")
_SUBSTITUTION_REF = re.compile(r"(?<![\w\\|])\|(?=\S)([^|\n]{1,200}?)(?<=\S)\|(?:__?)?(?![\w|])")
_STRONG = re.compile(r"(?<![\w*\\])\*\*(?=[^\s*])((?:[^*]|\*(?!\*)){1,1000}?)(?<=[^\s*\\])\*\*(?![\w*])")
_EMPHASIS = re.compile(r"(?<![\w*\\])\*(?=[^\s*])([^*]{1,1000}?)(?<=[^\s*\\])\*(?![\w*])")
_SIMPLE_REF = re.compile(r"(?<![\w\\/:.-])([^\W_](?:[\w.+-]*?[^\W_])?)__?(?!\w)")
_EMBEDDED_TARGET = re.compile(r"(.*?)\s*<([^<>]*)>", re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)
_HOLE = re.compile("\x00(\\d+)\x00")


def _reference_text(content: str) -> str:
    """`title <target>` -> title (or the target without a title); `~a.b.c` -> c; `!x` -> x."""
    match = _EMBEDDED_TARGET.fullmatch(content)
    if match:
        content = match.group(1) if match.group(1).strip() else match.group(2)
    content = content.lstrip("!")
    if content.startswith("~"):
        content = content[1:].rsplit(".", 1)[-1]
    return _ESCAPE.sub(r"\1", content)


def _role_text(role: str, content: str) -> str:
    kind = role.rsplit(":", 1)[-1].lower()
    if kind in ("math", "abbr", "kbd", "samp", "code", "literal"):
        return _ESCAPE.sub(r"\1", content)
    text = _reference_text(content)
    return {"pep": f"PEP {text}", "rfc": f"RFC {text}"}.get(kind, text)


def rst_inline(text: str, substitutions: dict[str, str] | None = None) -> str:
    """Inline reST markup to plain text: roles, literals, references, emphasis, substitutions,
    footnote references and escapes. The text inside literals and roles is held aside first, so
    no later rule touches it (`:envvar:\\`PIP_*\\`` keeps its star)."""
    held: list[str] = []
    subs = substitutions or {}

    def hold(value: str) -> str:
        held.append(value)
        return f"\x00{len(held) - 1}\x00"

    text = text.replace("\x00", "")
    text = _INLINE_LITERAL.sub(lambda m: hold(m.group(1)), text)
    text = _ROLE_BEFORE.sub(lambda m: hold(_role_text(m.group(1), m.group(2))), text)
    text = _ROLE_AFTER.sub(lambda m: hold(_role_text(m.group(2), m.group(1))), text)
    text = _REFERENCE.sub(lambda m: hold(_reference_text(m.group(1))), text)
    text = _INLINE_TARGET.sub(lambda m: hold(_ESCAPE.sub(r"\1", m.group(1))), text)
    text = _INTERPRETED.sub(lambda m: hold(_reference_text(m.group(1))), text)
    text = _FOOTNOTE_REF.sub("", text)
    text = _SUBSTITUTION_REF.sub(lambda m: hold(subs.get(m.group(1), m.group(1))), text)
    text = _STRONG.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    text = _SIMPLE_REF.sub(r"\1", text)
    text = _ESCAPE.sub(lambda m: "" if m.group(1).isspace() else m.group(1), text)
    for _ in range(3):  # a substitution may hold a literal; deeper nesting is not reST
        text = _HOLE.sub(lambda m: held[int(m.group(1))], text)
    return _SPACES.sub(" ", text).strip()


_MAX_NESTING = 40  # deeper than any document: ASCII art or hostile input, kept as it is


class _RstReader:
    """One document's blocks, read line by line; nested blocks (list items, directive bodies,
    block quotes) are read by the same rules after their indentation is removed."""

    def __init__(self, substitutions: dict[str, str]) -> None:
        self.substitutions = substitutions
        self.depth = 0
        self.title = ""
        self.titles = 0
        self.content_seen = False  # a field list before any text is document info (:orphan:)

    def inline(self, text: str) -> str:
        return rst_inline(text, self.substitutions)

    def blocks(self, lines: list[str], top: bool = False) -> list[str]:
        if self.depth >= _MAX_NESTING:
            return [_verbatim(lines)]
        self.depth += 1
        try:
            return self._read(lines, top)
        finally:
            self.depth -= 1

    def _read(self, lines: list[str], top: bool) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(lines):
            if not lines[i].strip():
                i += 1
                continue
            before, titles = len(out), self.titles
            i = self._block(lines, i, top, out)
            if len(out) - before > self.titles - titles:  # a title alone is no content yet
                self.content_seen = True
        return [block for block in out if block.strip()]

    def _block(self, lines: list[str], i: int, top: bool, out: list[str]) -> int:
        """Read the block at line i into `out`; returns the line after it."""
        line = lines[i].rstrip()
        if _indent(line):  # a block quote
            end = _indented_end(lines, i)
            out.extend(self.blocks(_dedent(lines[i:end])))
            return end
        if line.startswith("__ "):  # an anonymous hyperlink target
            return _indented_end(lines, i + 1)
        if _EXPLICIT.match(line):
            if line == ".." and (i + 1 == len(lines) or not lines[i + 1].strip()):
                return i + 1  # an empty comment ends at once
            end = _indented_end(lines, i + 1)
            out.extend(self._explicit(line[2:].strip(), _dedent(lines[i + 1 : end])))
            return end
        title, end = _section_title(lines, i)
        if title is not None:
            self._title(title, out)
            return end
        if _is_adornment(line, 4):  # a transition
            return i + 1
        if _GRID_BORDER.match(line) or _SIMPLE_BORDER.match(line):
            return self._table(lines, i, out)
        if _FIELD.match(line):
            return self._fields(lines, i, drop=top and not self.content_seen, out=out)
        if _BULLET.match(line) or _ENUMERATOR.match(line):
            return self._list(lines, i, out)
        if _LINE_BLOCK.match(line):
            return self._line_block(lines, i, out)
        if line.startswith(">>>"):  # a doctest block
            end = next((k for k in range(i, len(lines)) if not lines[k].strip()), len(lines))
            out.append("\n".join(part.rstrip() for part in lines[i:end]))
            return end
        return self._paragraph(lines, i, out)

    def _title(self, title: str, out: list[str]) -> None:
        text = self.inline(title)
        self.title = self.title or clean_title(text)
        self.titles += 1
        out.append(text)

    def _paragraph(self, lines: list[str], i: int, out: list[str]) -> int:
        end = i + 1
        while end < len(lines) and lines[end].strip() and not _indent(lines[end]):
            if _section_title(lines, end)[0] is not None:
                break
            end += 1
        text = _join_wrapped(lines[i:end])
        literal = text.endswith("::")
        if literal:  # "Text::" -> "Text:", "Text ::" -> "Text", "::" -> nothing
            body = text[:-2]
            text = "" if not body.strip() else body.rstrip() if body[-1:].isspace() else body + ":"
        out.append(self.inline(text))
        if not literal:
            return end
        start = end
        while start < len(lines) and not lines[start].strip():
            start += 1
        if start == len(lines) or not _indent(lines[start]):
            return end
        stop = _indented_end(lines, start)
        out.append(_verbatim(_dedent(lines[start:stop])))
        return stop

    def _explicit(self, head: str, body: list[str]) -> list[str]:
        """A target, footnote, substitution definition, directive or comment."""
        if head.startswith("_") or _SUBSTITUTION.match(head):
            return []  # hyperlink targets (.. _label:, .. __: url) and substitution definitions
        footnote = _FOOTNOTE.match(head)
        if footnote:
            return self.blocks([footnote.group(2) or "", *body])
        directive = _DIRECTIVE.match(head)
        if directive:
            return self._directive(directive.group(1).lower(), directive.group(2) or "", body)
        return []  # a comment

    def _directive(self, name: str, argument: str, body: list[str]) -> list[str]:
        """Keep what a reader of the built page sees: a note's text, a function's signature and
        description, a code block's code; drop navigation and configuration."""
        kind = name.rsplit(":", 1)[-1]
        if kind in _DROPPED_DIRECTIVES or (kind.startswith("auto") and not body):
            return []
        content = _split_options(body)
        if kind in _LITERAL_DIRECTIVES:
            code = _verbatim(([argument] if kind == "math" and argument else []) + _dedent(content))
            return [code] if code.strip() else []
        if kind == "parsed-literal":
            return ["\n".join(self.inline(line) for line in _dedent(content))]
        keep_argument = argument and kind not in _NO_TEXT_ARGUMENT and not kind.startswith("auto")
        return self.blocks(([argument] if keep_argument else []) + content)

    def _fields(self, lines: list[str], i: int, drop: bool, out: list[str]) -> int:
        """A field list: `name: body` lines, or nothing for document info at the top."""
        items: list[str] = []
        while i < len(lines) and (match := _FIELD.match(lines[i])):
            end = _indented_end(lines, i + 1)
            body = self.blocks([match.group(2) or "", *_dedent(lines[i + 1 : end])])
            name = self.inline(match.group(1))
            items.append(f"{name}: {' '.join(body)}" if body else name)
            i = end
        if not drop:
            out.append("\n".join(items))
        return i

    def _list(self, lines: list[str], i: int, out: list[str]) -> int:
        """Bullet and enumerated lists: one line per item; bullets dropped, numbers kept."""
        items: list[str] = []
        while i < len(lines) and (match := _BULLET.match(lines[i]) or _ENUMERATOR.match(lines[i])):
            marker = match.group(0).strip()
            end = _indented_end(lines, i + 1)
            rest = lines[i + 1 : end]
            depth = min([match.end()] + [_indent(line) for line in rest if line.strip()])
            parts = self.blocks([lines[i][match.end() :]] + [line[depth:] for line in rest])
            numbered = not _BULLET.match(lines[i]) and marker not in ("#.", "#)", "(#)")
            items.append((f"{marker} " if numbered else "") + "\n".join(parts))
            i = end
        out.append("\n".join(item for item in items if item.strip()))
        return i

    def _line_block(self, lines: list[str], i: int, out: list[str]) -> int:
        kept: list[str] = []
        while i < len(lines) and lines[i].strip():
            line = lines[i].rstrip()
            if _LINE_BLOCK.match(line):
                kept.append(line[1:].strip())
            elif kept:
                kept[-1] = _join_wrapped([kept[-1], line])
            i += 1
        out.append("\n".join(self.inline(line) for line in kept))
        return i

    def _table(self, lines: list[str], i: int, out: list[str]) -> int:
        """Grid and simple tables: one line per row, cells joined by " | "."""
        grid = lines[i].lstrip().startswith("+")
        end = i + 1
        while end < len(lines) and (lines[end].strip() or not grid and _simple_table_goes_on(lines, end)):
            end += 1
        rows = []
        for line in lines[i:end]:
            stripped = line.strip()
            if not stripped or _GRID_BORDER.match(stripped) or _SIMPLE_RULE.match(stripped):
                continue
            cells = stripped.strip("|").split("|") if grid else re.split(r"\s{2,}", stripped)
            rows.append(" | ".join(self.inline(cell) for cell in cells if cell.strip()))
        out.append("\n".join(row for row in rows if row))
        return end


def _simple_table_goes_on(lines: list[str], blank: int) -> bool:
    """A blank line inside a simple table: the table goes on unless its last border is behind."""
    previous = lines[blank - 1].strip()
    return not _SIMPLE_BORDER.match(previous) and blank + 1 < len(lines) and bool(lines[blank + 1].strip())


def _verbatim(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def rst_to_text(source: str) -> Rendered:
    """reStructuredText as the text of its built page; the title is the first section title,
    else the first line of text (never `:orphan:` or `.. _label:`, which are gone)."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").expandtabs(8).split("\n")
    reader = _RstReader(_substitutions(lines))
    text = _collapse_blank_lines("\n\n".join(reader.blocks(lines, top=True)))
    return Rendered(title=reader.title or title_line(text), text=text)
