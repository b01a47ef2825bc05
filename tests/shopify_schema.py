"""Shopify's published Admin GraphQL schema, to check what the hub sends before Shopify would refuse it.

The schema is the introspection result Shopify ships for each API version (source in
tests/fixtures/README.md), at the version the hub speaks (SHOPIFY_API_VERSION): moving the setting
to a version with no schema file here fails the tests until its schema is added. A document is
checked with GraphQL's own validation rules plus "no deprecated field, argument or enum value", and
its variables are checked against the input types they are declared with, deprecated input fields
included.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from typing import Any

import graphql
from graphql.execution.values import get_variable_values

from tests.platforms import FIXTURES


def schema_path(version: str):
    return FIXTURES / "shopify" / "graphql" / f"admin_graphql_schema_{version}.json.gz"


@cache
def admin_schema(version: str) -> graphql.GraphQLSchema:
    path = schema_path(version)
    if not path.exists():
        raise AssertionError(
            f"no published Shopify schema for API {version} in {path.parent.name}/: add Shopify's "
            "schema of that version (see tests/fixtures/README.md) before moving SHOPIFY_API_VERSION"
        )
    with gzip.open(path) as file:
        introspection = json.load(file)["data"]
    # assume_valid: Shopify's schema trips a schema-authoring self-check (a deprecated field
    # implementing an interface field that is not); documents are still validated in full.
    return graphql.build_client_schema(introspection, assume_valid=True)


def configured_schema() -> graphql.GraphQLSchema:
    from django.conf import settings

    return admin_schema(settings.SHOPIFY_API_VERSION)


def document_errors(query: str, variables: dict[str, Any] | None = None) -> list[str]:
    """What Shopify's schema says is wrong with this document and these variables (nothing: [])."""
    schema = configured_schema()
    try:
        document = graphql.parse(query)
    except graphql.GraphQLError as error:
        return [f"syntax: {error.message}"]
    rules = [*graphql.specified_rules, graphql.NoDeprecatedCustomRule]
    errors = [error.message for error in graphql.validate(schema, document, rules)]
    if errors or variables is None:
        return errors
    for operation in document.definitions:
        if not isinstance(operation, graphql.OperationDefinitionNode):
            continue
        definitions = operation.variable_definitions or ()
        coerced = get_variable_values(schema, definitions, variables)
        if isinstance(coerced, list):
            errors.extend(error.message for error in coerced)
            continue
        for definition in definitions:
            name = definition.variable.name.value
            kind = graphql.type_from_ast(schema, definition.type)
            if name in variables and kind is not None:
                errors.extend(_deprecated_inputs(kind, variables[name], f"${name}"))
    return errors


def _deprecated_inputs(kind: Any, value: Any, where: str) -> list[str]:
    """Deprecated input fields and enum values used in a variable's value (validation does not
    look inside variables)."""
    kind = graphql.get_nullable_type(kind)
    if isinstance(kind, graphql.GraphQLList):
        items = value if isinstance(value, list) else [value]
        return [
            e for n, item in enumerate(items) for e in _deprecated_inputs(kind.of_type, item, f"{where}[{n}]")
        ]
    if isinstance(kind, graphql.GraphQLEnumType) and isinstance(value, str) and value in kind.values:
        reason = kind.values[value].deprecation_reason
        return [f"{where}: {kind.name}.{value} is deprecated. {reason}"] if reason else []
    if isinstance(kind, graphql.GraphQLInputObjectType) and isinstance(value, dict):
        found = []
        for name, item in value.items():
            field = kind.fields.get(name)
            if field is None:
                continue  # coercion has reported it
            if field.deprecation_reason:
                found.append(f"{where}.{name}: {kind.name}.{name} is deprecated. {field.deprecation_reason}")
            found.extend(_deprecated_inputs(field.type, item, f"{where}.{name}"))
        return found
    return []
