"""Parse a GraphQL request once, with the token limit, before anything else looks at it.

Every later step (the method check, the anonymous ``__typename`` check, the
limits, validation and execution) takes the document parsed here, so no
request is ever parsed without the token limit: a large document costs its
first ``max_tokens`` tokens and no more, authenticated or not. Small
documents are cached by their text, so a client that repeats its queries
parses each once; large ones are not, so the cache cannot hold much memory.
"""

from __future__ import annotations

from functools import lru_cache

from graphql import DocumentNode, GraphQLError, parse
from graphql.error import GraphQLSyntaxError

from xrm.errors import LimitExceeded

CACHED_UP_TO = 64 * 1024  # characters; a query text longer than this is parsed every time


def parse_document(query: str, max_tokens: int) -> DocumentNode | GraphQLError:
    """The document, or the syntax error to answer with.

    Raises ``LimitExceeded`` (``limit: tokens``) for a document of more than
    ``max_tokens`` tokens, without reading past that many.
    """
    parser = _cached if len(query) <= CACHED_UP_TO else _parse
    found = parser(query, max_tokens)
    if found is _TOO_LONG:
        raise LimitExceeded(
            f"the query has more than {max_tokens} tokens; send a shorter one", limit="tokens"
        )
    assert not isinstance(found, str)
    return found


_TOO_LONG = "too long"


def _parse(query: str, max_tokens: int) -> DocumentNode | GraphQLError | str:
    try:
        return parse(query, max_tokens=max_tokens)
    except GraphQLSyntaxError as exc:
        if "Document contains more than" in exc.message:
            return _TOO_LONG
        return exc


_cached = lru_cache(maxsize=512)(_parse)
