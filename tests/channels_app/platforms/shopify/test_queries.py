"""Every GraphQL document the hub sends Shopify, checked against Shopify's published schema of the
API version the hub speaks (SHOPIFY_API_VERSION): a removed or deprecated field fails here before
Shopify refuses it. The tests' Shopify stand-ins check every request they receive the same way
(tests/conftest.py, `shopify_documents_valid`)."""

from __future__ import annotations

import ast
import inspect

import graphql
import pytest
from django.conf import settings

from channels_app.handlers import topics_for
from channels_app.platforms.shopify import client, queries
from channels_app.platforms.shopify.client import topic_enum
from tests.shopify_schema import configured_schema, document_errors, schema_path


def documents() -> dict[str, str]:
    """The client's GraphQL documents: the queries module's constants that are operations."""
    found = {}
    for name, value in vars(queries).items():
        if name.isupper() and isinstance(value, str) and value.lstrip().startswith(("query", "mutation")):
            found[name] = value
    return found


def test_the_schema_of_the_configured_version_is_here():
    assert schema_path(settings.SHOPIFY_API_VERSION).exists()
    assert configured_schema().query_type.name == "QueryRoot"


@pytest.mark.parametrize("name", sorted(documents()))
def test_each_document_is_valid_and_uses_nothing_deprecated(name):
    assert document_errors(documents()[name]) == []


def test_every_query_the_client_sends_is_one_of_those_documents():
    """So the check above covers them all: `self.graphql(...)` is only ever given a constant, or a
    parameter of a method that is itself only ever given a constant (`_pages`)."""
    methods = [
        node for node in ast.walk(ast.parse(inspect.getsource(client))) if isinstance(node, ast.FunctionDef)
    ]
    senders, sent = {"graphql"}, []
    while True:  # a method passing its own parameter on to a sender is a sender too
        sent = []
        for method in methods:
            parameters = {arg.arg for arg in method.args.args}
            for call in ast.walk(method):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.args:
                    if call.func.attr in senders:
                        sent.append((method.name, call.args[0], parameters))
        forwarding = {
            name for name, arg, parameters in sent if isinstance(arg, ast.Name) and arg.id in parameters
        }
        if forwarding <= senders:
            break
        senders |= forwarding
    constants = [
        arg for _, arg, parameters in sent if not (isinstance(arg, ast.Name) and arg.id in parameters)
    ]
    assert constants, "no graphql calls found: the check has gone blind"
    assert all(isinstance(arg, ast.Name) for arg in constants), [ast.unparse(arg) for arg in constants]
    assert {arg.id for arg in constants} <= set(documents())
    assert len(documents()) >= 11


def test_every_topic_the_hub_subscribes_to_exists_and_is_not_deprecated():
    topics = configured_schema().get_type("WebhookSubscriptionTopic")
    assert isinstance(topics, graphql.GraphQLEnumType)
    for topic in topics_for("shopify"):
        value = topics.values.get(topic_enum(topic))
        assert value is not None, f"{topic}: Shopify has no such webhook topic"
        assert value.deprecation_reason is None, f"{topic}: {value.deprecation_reason}"


def test_the_check_refuses_a_deprecated_field_a_removed_one_and_bad_variables():
    """The checker itself: what Shopify would refuse or has deprecated is named."""
    assert document_errors("query { customer(id: 1) { phone } }") == [
        "The field Customer.phone is deprecated. Use `defaultPhoneNumber.phoneNumber` instead."
    ]
    assert "Cannot query field 'available' on type 'InventoryLevel'." in document_errors(
        "query { inventoryItem(id: 1) { inventoryLevel(locationId: 2) { available } } }"
    )
    create = queries.WEBHOOK_CREATE
    good = {
        "topic": "ORDERS_CREATE",
        "webhookSubscription": {"uri": "https://hub.example/x", "format": "JSON"},
    }
    assert document_errors(create, good) == []
    assert document_errors(create, good | {"topic": "ORDERS_EATEN"})
    old = good | {"webhookSubscription": {"callbackUrl": "https://hub.example/x", "format": "JSON"}}
    assert document_errors(create, old) == [
        "$webhookSubscription.callbackUrl: WebhookSubscriptionInput.callbackUrl is deprecated. "
        + configured_schema().get_type("WebhookSubscriptionInput").fields["callbackUrl"].deprecation_reason
    ]
