"""The OpenAPI document at ``/docs/openapi.json``: one decorator per route, schemas from its pydantic models.

``@documented(...)`` states what a route takes and answers: its request body and query (the very
pydantic models the route parses with ``parse_body``/``parse_query``, so required fields, bounds
and enums in the document are the ones enforced), its successful answers, and the error statuses
it can give, each one the contract's error object. What every route of a kind can answer is added
here, so no route has to remember it:

* a body or a query: 422 ``VALIDATION_ERROR``; a body: 413 ``PAYLOAD_TOO_LARGE``;
* ``server.http.authenticated``: the bearer scheme and 401 ``UNAUTHENTICATED``;
* the database or Redis behind it (every route unless ``backing_services=False``): 503
  ``SERVICE_UNAVAILABLE`` with ``Retry-After``.

Models become ``components/schemas`` (OpenAPI 3.0: pydantic's JSON Schema with ``nullable``
instead of a ``null`` type), named after their class. sanic-ext assembles the document; this
module only gives it finished schemas.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field
from sanic_ext.extensions.openapi.builders import OperationStore, SpecificationBuilder
from sanic_ext.extensions.openapi.definitions import Parameter, RequestBody

H = TypeVar("H", bound=Callable[..., Any])
Mode = Literal["validation", "serialization"]
JsonSchema = dict[str, Any]

REF = "#/components/schemas/"

TITLE = "xinyi — 信易游 credit benefits API"
VERSION = "1.0.0"
DESCRIPTION = """\
The credit benefits platform of Yunnan's 信易游: residents' credit passes and benefits, merchants'
scans and redemptions, partner platforms' signed calls and regulators' administration.

* **Residents** (`/api/v1/mp`): `POST /api/v1/mp/auth/login` with a `wx.login` code, then
  `Authorization: Bearer <access_token>`.
* **Merchants** (`/api/v1/merchant`) and **regulators** (`/api/v1/admin`): `POST …/auth/login`
  with a username and password, then the bearer token.
* **Partners** (`/api/v1/partner`): every request signed with the partner's key and secret (the
  `partnerKey`, `partnerTimestamp`, `partnerNonce` and `partnerSignature` schemes together).

JSON in and out, UTF-8; times are ISO 8601 with an offset; money is integer fen (`*_fen`). Lists
take `?limit=&cursor=` and answer `{"items": [...], "next_cursor": null | "…"}`. Every answer
carries `X-Request-Id`. Every error is `{"error": {"code", "message", "request_id", …}}` with an
UPPER_SNAKE `code`; a validation failure is 422 `VALIDATION_ERROR` with `fields`, one reason per
field. A 429 or 503 says how long to wait in `Retry-After` (seconds)."""

# What each status means when a route says no more (the contract's codes).
STATUS_TEXT: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE: the request body is over the size limit",
    422: "VALIDATION_ERROR: `fields` names each invalid field and why",
    431: "HEADERS_TOO_LARGE: the request line (a long query) or the headers are over the size limit",
    429: "TOO_MANY_REQUESTS: too many attempts; wait `Retry-After` seconds",
    502: "WECHAT_UNAVAILABLE: WeChat could not be reached; try again shortly",
    503: "SERVICE_UNAVAILABLE: the database or Redis is unavailable; retry after `Retry-After` seconds",
}
_WAIT_STATUSES = (429, 503)
_CODE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\b[A-Z]{4,}\b")


# --- the error object -------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    """The contract's error: an UPPER_SNAKE code, a message for people, the request's id; more fields for some codes."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$", examples=["NOT_FOUND"])
    message: str = Field(examples=["No such resource."])
    request_id: str | None = Field(description="the request's X-Request-Id", examples=["5f0c6b2e9a1d4c7b"])
    fields: dict[str, str] | None = Field(
        default=None, description="VALIDATION_ERROR: the reason for each invalid field, by its path"
    )


class Error(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    error: ErrorDetail


# --- schemas: pydantic's JSON Schema as OpenAPI 3.0 components --------------------------------


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "contains", "propertyNames")


def to_oas30(schema: Any, *, keep_title: bool = False) -> Any:
    """A JSON Schema (2020-12, as pydantic writes it) as an OpenAPI 3.0 Schema Object.

    ``null`` in an ``anyOf`` becomes ``nullable``; ``const`` an ``enum`` of one; numeric
    ``exclusiveMinimum``/``exclusiveMaximum`` the 3.0 boolean form; ``examples`` an ``example``; a
    ``$ref`` with siblings an ``allOf`` of one (3.0 ignores a ``$ref``'s siblings). Titles go,
    except a component's own.
    """
    if not isinstance(schema, dict):
        return schema
    node = dict(schema)
    out: JsonSchema = {}
    variants = node.pop("anyOf", None)
    if variants is not None:
        kept = [v for v in variants if v != {"type": "null"}]
        if len(kept) < len(variants):
            out["nullable"] = True
        if len(kept) == 1:
            only = to_oas30(kept[0])
            if "$ref" in only:
                out["allOf"] = [only]
            else:
                out.update(only)
        else:
            out["anyOf"] = [to_oas30(v) for v in kept]
    for key, value in node.items():
        if key == "title" and not keep_title:
            continue
        if key in _SCHEMA_MAPS:
            out[key] = {name: to_oas30(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS:
            out[key] = [to_oas30(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            out[key] = to_oas30(value)
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "examples" and isinstance(value, list):
            if value:
                out["example"] = value[0]
        else:
            out[key] = value
    if out.get("nullable") and isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]  # 3.0: a nullable enum lists null among its values
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}, *out.get("allOf", [])]
    return out


def _renamed(schema: Any, names: Mapping[str, str]) -> Any:
    if isinstance(schema, dict):
        return {
            key: (REF + names[value[len(REF) :]])
            if key == "$ref" and isinstance(value, str) and value[len(REF) :] in names
            else _renamed(value, names)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_renamed(item, names) for item in schema]
    return schema


class SchemaCatalog:
    """The models the document names, as components: one name per distinct schema, the class's name first."""

    def __init__(self) -> None:
        self.schemas: dict[str, JsonSchema] = {}
        self._names: dict[tuple[type[BaseModel], Mode], str] = {}

    def ref(self, model: type[BaseModel], mode: Mode) -> JsonSchema:
        return {"$ref": REF + self.add(model, mode)}

    def add(self, model: type[BaseModel], mode: Mode) -> str:
        """The component name of ``model`` as read (``validation``) or written (``serialization``)."""
        key = (model, mode)
        if key not in self._names:
            raw = model.model_json_schema(mode=mode, ref_template=REF + "{model}")
            local: dict[str, JsonSchema] = raw.pop("$defs", {})
            top = model.__name__
            local[top] = raw
            self._names[key] = self._merge(local)[top]
        return self._names[key]

    def inline(self, model: type[BaseModel], mode: Mode) -> JsonSchema:
        """The schema of ``model`` itself (for its fields as parameters); the models it names become components."""
        raw = model.model_json_schema(mode=mode, ref_template=REF + "{model}")
        names = self._merge(raw.pop("$defs", {}))
        return _renamed(raw, names)

    def _merge(self, local: dict[str, JsonSchema]) -> dict[str, str]:
        """Store ``local`` schemas; a name already holding another schema gets a numbered one."""
        names = {name: name for name in local}
        while True:
            clash = False
            for name, schema in local.items():
                stored = self.schemas.get(names[name])
                if stored is not None and stored != self._final(schema, names):
                    names[name] = self._fresh(name, taken=names.values())
                    clash = True
            if not clash:
                break
        for name, schema in local.items():
            self.schemas[names[name]] = self._final(schema, names)
        return names

    @staticmethod
    def _final(schema: JsonSchema, names: Mapping[str, str]) -> JsonSchema:
        return to_oas30(_renamed(schema, names), keep_title=True)

    def _fresh(self, name: str, *, taken: Iterable[str]) -> str:
        used = set(taken) | set(self.schemas)
        n = 2
        while f"{name}{n}" in used:
            n += 1
        return f"{name}{n}"


CATALOG = SchemaCatalog()
ERROR_SCHEMA = CATALOG.add(Error, "serialization")


def _spec() -> SpecificationBuilder:
    return SpecificationBuilder()


def _publish() -> None:
    """Hand the catalog's schemas to sanic-ext's document (one per process, shared by every app)."""
    spec = _spec()
    for name, schema in CATALOG.schemas.items():
        spec.add_component("schemas", name, schema)
    for name, header in HEADERS.items():
        spec.add_component("headers", name, header)


# --- security -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Security:
    """How a route is authenticated: its requirement, the schemes it names and the errors it adds."""

    requirement: Mapping[str, Sequence[str]]
    schemes: Mapping[str, JsonSchema]
    errors: Mapping[int, str]
    note: str = ""


BEARER_SCHEME: JsonSchema = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "An access token from the audience's `POST …/auth/login` (or `…/auth/refresh`).",
}


def bearer(audience: str) -> Security:
    """An access token of ``audience`` (resident, merchant or admin)."""
    return Security(
        requirement={"bearer": []},
        schemes={"bearer": BEARER_SCHEME},
        errors={
            401: "UNAUTHENTICATED: no access token, or one that is invalid, expired or of another audience"
        },
        note=f"Needs {'an' if audience[:1] in 'aeiou' else 'a'} {audience}'s access token.",
    )


_SECURED: dict[Callable[..., Any], Security] = {}


def secured_by(handler: H, security: Security) -> H:
    """Record that ``handler`` (a route decorator's wrapper) demands ``security``; ``documented`` reads it."""
    _SECURED[handler] = security
    return handler


# --- parameters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A parameter a route reads itself, outside a query model: a header, or a query value."""

    name: str
    schema: JsonSchema
    description: str
    location: Literal["header", "query"] = "header"
    required: bool = False


IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    {"type": "string", "pattern": r"^[\x21-\x7e]{1,128}$", "minLength": 1, "maxLength": 128},
    "1 to 128 printable ASCII characters. The same key with the same body answers the stored answer "
    "again (`Idempotency-Replayed: true`); with another body, 409 `IDEMPOTENCY_CONFLICT`.",
)

UUID_SCHEMA: JsonSchema = {"type": "string", "format": "uuid"}


# --- answers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A successful answer: a model (JSON), a raw schema of another media type, or no body."""

    model: type[BaseModel] | None = None
    description: str | None = None
    media_type: str | tuple[str, ...] = "application/json"  # several: the same schema under each
    schema: JsonSchema | None = None
    headers: Mapping[str, JsonSchema] = field(default_factory=dict)


HEADERS: dict[str, JsonSchema] = {
    "X-Request-Id": {
        "description": "The request's id: the caller's `X-Request-Id` if it is sane, else a new one.",
        "schema": {"type": "string"},
    },
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}},
}
_REQUEST_ID_HEADER = {"$ref": "#/components/headers/X-Request-Id"}
_RETRY_AFTER_HEADER = {"$ref": "#/components/headers/Retry-After"}
_EXAMPLE_MESSAGES = {
    400: "The request could not be understood.",
    401: "Authentication is required.",
    403: "You are not allowed to do this.",
    404: "Not found.",
    409: "The request conflicts with the current state.",
    413: "The request body is too large.",
    422: "Some fields are invalid.",
    429: "Too many attempts; try again later.",
    502: "WeChat is unavailable; try again shortly.",
    503: "A backing service is unavailable; try again shortly.",
}


def _error_example(status: int, text: str) -> JsonSchema:
    match = _CODE.search(text)
    code = match.group(0) if match else STATUS_TEXT.get(status, "ERROR").split(":")[0]
    message = _EXAMPLE_MESSAGES.get(status, "The request failed.")
    detail: JsonSchema = {"code": code, "message": message, "request_id": "5f0c6b2e9a1d4c7b"}
    if code == "VALIDATION_ERROR":
        detail["fields"] = {"limit": "Input should be less than or equal to 200"}
    return {"error": detail}


def _error_response(status: int, text: str) -> JsonSchema:
    headers: JsonSchema = {"X-Request-Id": _REQUEST_ID_HEADER}
    if status in _WAIT_STATUSES:
        headers["Retry-After"] = _RETRY_AFTER_HEADER
    return {
        "description": text,
        "headers": headers,
        "content": {
            "application/json": {
                "schema": {"$ref": REF + ERROR_SCHEMA},
                "example": _error_example(status, text),
            }
        },
    }


def _answer_response(status: int, answer: Answer | type[BaseModel] | None) -> JsonSchema:
    if not isinstance(answer, Answer):
        answer = Answer(model=answer)
    response: JsonSchema = {
        "description": answer.description or ("Created" if status == 201 else "OK"),
        "headers": {
            "X-Request-Id": _REQUEST_ID_HEADER,
            **{k: {"schema": v} for k, v in answer.headers.items()},
        },
    }
    media_types = (answer.media_type,) if isinstance(answer.media_type, str) else answer.media_type
    if answer.model is not None:
        response["content"] = {m: {"schema": CATALOG.ref(answer.model, "serialization")} for m in media_types}
    elif answer.schema is not None:
        response["content"] = {m: {"schema": answer.schema} for m in media_types}
    return response


def _merge_errors(*sources: Mapping[int, str]) -> dict[int, str]:
    """The texts of each status, the route's own first (a text already said, in full or in part, once)."""
    merged: dict[int, list[str]] = {}
    for source in sources:
        for status, text in source.items():
            texts = merged.setdefault(status, [])
            if not any(text in seen or seen in text for seen in texts):
                texts.append(text)
    return {status: "; ".join(texts) for status, texts in sorted(merged.items())}


def _as_errors(errors: Mapping[int, str | None] | Iterable[int]) -> dict[int, str]:
    pairs = errors.items() if isinstance(errors, Mapping) else ((status, None) for status in errors)
    return {int(status): text or STATUS_TEXT.get(int(status), "error") for status, text in pairs}


# --- the decorator --------------------------------------------------------------------------------


def documented(
    summary: str,
    *,
    answers: Mapping[int, Answer | type[BaseModel] | None],
    description: str | None = None,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    upload: str | None = None,
    query: type[BaseModel] | None = None,
    path: Mapping[str, str | JsonSchema] | None = None,
    params: Sequence[Param] = (),
    errors: Mapping[int, str | None] | Iterable[int] = (),
    security: Security | None = None,
    backing_services: bool = True,
    tag: str | None = None,
) -> Callable[[H], H]:
    """Document a route: what it takes, what it answers, every error status it can give.

    ``upload``: the body is ``multipart/form-data`` with one file part of that name (``server.files``).
    ``path``: a path parameter's description (a UUID) or its schema. ``errors``: statuses (with
    the codes they carry, e.g. ``{409: "OUT_OF_STOCK / LIMIT_REACHED"}``; None or a bare status:
    ``STATUS_TEXT``'s) beyond the ones added for a body, a query, authentication and the backing
    services. Apply it above the route's
    authentication decorator (``authenticated``), whose security it picks up.
    """

    def decorate(handler: H) -> H:
        op = OperationStore()[handler]
        op.describe(summary=summary, description=None)
        auth = security or _SECURED.get(handler)
        notes = [text for text in (description, auth.note if auth else "") if text]
        if notes:
            op.describe(description="\n\n".join(notes))
        if tag:
            op.tag(tag)

        implied: dict[int, str] = {}
        if body is not None:  # an upload names its own 413 (its limit is not REQUEST_MAX_SIZE)
            implied[413] = STATUS_TEXT[413]
        if body is not None or query is not None or upload is not None:
            implied[422] = STATUS_TEXT[422]
        if query is not None:  # a query string can outgrow the request line's limit
            implied[431] = STATUS_TEXT[431]
        if backing_services:
            implied[503] = STATUS_TEXT[503]
        if auth is not None:
            op.security.append({name: list(scopes) for name, scopes in auth.requirement.items()})
            for name, scheme in auth.schemes.items():
                _spec().add_component("securitySchemes", name, scheme)
        every_error = _merge_errors(auth.errors if auth else {}, _as_errors(errors), implied)

        for name, what in (path or {}).items():
            schema = dict(UUID_SCHEMA) if isinstance(what, str) else dict(what)
            text = what if isinstance(what, str) else schema.pop("description", None)
            op.parameters.append(_parameter(name, schema, "path", text, required=True))
        if query is not None:
            _add_query(op, query)
        for param in params:
            op.parameters.append(
                _parameter(
                    param.name, param.schema, param.location, param.description, required=param.required
                )
            )
        if body is not None:
            op.requestBody = RequestBody(
                {"application/json": {"schema": CATALOG.ref(body, "validation")}}, required=body_required
            )
        if upload is not None:
            form = {
                "type": "object",
                "required": [upload],
                "properties": {upload: {"type": "string", "format": "binary"}},
            }
            op.requestBody = RequestBody({"multipart/form-data": {"schema": form}}, required=True)

        responses: dict[str, JsonSchema] = {
            str(status): _answer_response(status, answer) for status, answer in answers.items()
        }
        for status, text in every_error.items():
            responses.setdefault(str(status), _error_response(status, text))
        op.responses = dict(sorted(responses.items()))
        _publish()
        return handler

    return decorate


def _add_query(op: Any, model: type[BaseModel]) -> None:
    """Each field of a query model as a parameter: a query value is a string or absent, never null."""
    schema = CATALOG.inline(model, "validation")
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        if "anyOf" in prop:
            prop["anyOf"] = [v for v in prop["anyOf"] if v != {"type": "null"}]
        if prop.get("default", 0) is None:
            del prop["default"]
        text = prop.pop("description", None)
        op.parameters.append(_parameter(name, to_oas30(prop), "query", text, required=name in required))


def _parameter(
    name: str, schema: JsonSchema, location: str, text: str | None, *, required: bool
) -> Parameter:
    # sanic-ext serializes a schema given as a dict as it is: the finished OpenAPI 3.0 schema.
    return Parameter(name, cast(Any, schema), location, description=text, required=required)


# --- the app's side ---------------------------------------------------------------------------------

# The contract's audiences, by path; anything else is operational.
AUDIENCE_TAGS: tuple[tuple[str, str, str], ...] = (
    (
        "/api/v1/mp/",
        "residents",
        "The mini-program's calls: a resident's account, credit, pass and benefits.",
    ),
    ("/api/v1/merchant/", "merchants", "Merchant staff: scans, redemptions, offers, reports."),
    ("/api/v1/partner/", "partners", "Partner platforms' signed calls."),
    ("/api/v1/admin/", "regulators", "Regulators: merchants, partners, offers, credit records, rulesets."),
    ("/api/v1/public/", "public", "Anyone, with no login: the red and black lists, the benefit catalogue."),
)
OPS_TAG = ("ops", "Liveness, readiness and the pass keys.")


def install(app: Any) -> None:
    """The document's title and description, and each operation tagged with its audience."""
    app.config.API_TITLE = TITLE
    app.config.API_VERSION = VERSION
    app.config.API_DESCRIPTION = DESCRIPTION
    spec = _spec()
    for _prefix, name, text in (*AUDIENCE_TAGS, ("", *OPS_TAG)):
        spec.tag(name, text)

    @app.before_server_start
    async def _tag_operations(app: Any, _loop: Any = None) -> None:
        store = OperationStore()
        for route in app.router.routes:
            path = "/" + route.path.lstrip("/")
            tag = next((name for prefix, name, _ in AUDIENCE_TAGS if path.startswith(prefix)), OPS_TAG[0])
            handler = route.handler
            if handler in store and not store[handler].tags:
                store[handler].tag(tag)
