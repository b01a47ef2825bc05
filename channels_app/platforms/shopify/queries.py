"""The GraphQL documents the hub sends Shopify's Admin API, with the page sizes and estimated
costs they are asked with. Each is checked against Shopify's published schema of
SHOPIFY_API_VERSION in the tests (tests/shopify_schema.py), deprecated fields included."""

from __future__ import annotations

PAGE_SIZE = 100

VARIANTS_QUERY = """
query Variants($first: Int!, $after: String) {
  productVariants(first: $first, after: $after, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      sku
      title
      inventoryItem { id }
      product { id title }
    }
  }
}
"""
# The picker's search: Shopify's search syntax matches the words against title, SKU and more.
VARIANT_SEARCH_QUERY = """
query VariantSearch($first: Int!, $query: String) {
  productVariants(first: $first, query: $query, sortKey: TITLE) {
    nodes {
      id
      sku
      title
      inventoryItem { id }
      product { id title }
    }
  }
}
"""
INVENTORY_ITEM_VARIANT_QUERY = """
query InventoryItemVariant($id: ID!) {
  inventoryItem(id: $id) {
    id
    variants(first: 1) {
      nodes {
        id
        sku
        title
        product { id title }
      }
    }
  }
}
"""
SHOP_QUERY = "query { shop { name myshopifyDomain } }"
WEBHOOKS_QUERY = """
query Webhooks($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      topic
      uri
      apiVersion { handle }
    }
  }
}
"""
WEBHOOK_CREATE = """
mutation webhookSubscriptionCreate(
  $topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!
) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription {
      id
      topic
      uri
      apiVersion { handle }
    }
    userErrors { field message }
  }
}
"""


# A line costs about 4 points (LineItem, variant, MoneyBag, Money) and an order about 20 more: 2
# orders of up to 100 lines stay under Shopify's 1000-point ceiling for one query. An order with more
# lines than that is not polled (a truncated order would drop lines); its webhooks still apply.
ORDERS_PAGE, LINES_PAGE = 2, 100
ORDERS_COST = 2 + ORDERS_PAGE * (4 * LINES_PAGE + 20)
# Stock is read whole, one mapped location at a time: a page is one location's levels, so no nested
# connection can be cut short, and nothing is filtered by `updated_at` (nothing says an inventory
# item's moves when only its quantities do). A level costs about 3 points (the level, its item, its
# quantities): 100 a page is ~300 of the 1000 one query may ask, leaving the shop's bucket to the
# stock pushes that share it.
LEVELS_PAGE = 100
LEVELS_COST = 3 + LEVELS_PAGE * 3
_MONEY = "shopMoney { amount }"
_ADDRESS = (
    "firstName lastName company address1 address2 city province provinceCode country countryCodeV2 zip phone"
)
ORDERS_QUERY = f"""
query Orders($first: Int!, $after: String, $query: String!) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      legacyResourceId name email phone currencyCode createdAt updatedAt cancelledAt cancelReason
      displayFinancialStatus displayFulfillmentStatus
      customer {{ firstName lastName defaultPhoneNumber {{ phoneNumber }} }}
      checkoutToken
      shippingAddress {{ {_ADDRESS} }}
      billingAddress {{ {_ADDRESS} }}
      currentSubtotalPriceSet {{ {_MONEY} }}
      currentTotalTaxSet {{ {_MONEY} }}
      currentTotalDiscountsSet {{ {_MONEY} }}
      currentTotalPriceSet {{ {_MONEY} }}
      lineItems(first: {LINES_PAGE}) {{
        pageInfo {{ hasNextPage }}
        nodes {{
          id name sku quantity currentQuantity unfulfilledQuantity
          variant {{ legacyResourceId }}
          originalUnitPriceSet {{ {_MONEY} }}
        }}
      }}
    }}
  }}
}}
"""
LEVELS_QUERY = """
query LocationLevels($location: ID!, $first: Int!, $after: String) {
  location(id: $location) {
    inventoryLevels(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        updatedAt
        item { legacyResourceId tracked }
        quantities(names: ["available"]) { name quantity }
      }
    }
  }
}
"""


FULFILLMENT_STATE_QUERY = """
query FulfillmentState($id: ID!) {
  order(id: $id) {
    fulfillments(first: 50) { id trackingInfo(first: 5) { number } }
    fulfillmentOrders(first: 20) { nodes { id status assignedLocation { location { id } } } }
  }
}
"""
FULFILLMENT_CREATE = """
mutation fulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo(first: 5) { number company url } }
    userErrors { field message }
  }
}
"""
INVENTORY_SET = """
mutation inventorySetQuantities($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { createdAt reason changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}
"""
INVENTORY_LEVEL_QUERY = """
query Level($item: ID!, $location: ID!) {
  inventoryItem(id: $item) {
    inventoryLevel(locationId: $location) { quantities(names: ["available"]) { name quantity } }
  }
}
"""


# An upsert: by the store's id once known, else by the hub's handle, so a create whose answer was
# lost, sent again, updates what it made (productSet identifiers, 2025-04+).
PRODUCT_SET = """
mutation productSet($identifier: ProductSetIdentifiers, $input: ProductSetInput!) {
  productSet(identifier: $identifier, input: $input, synchronous: true) {
    product { id variants(first: 250) { nodes { id sku inventoryItem { id } } } }
    userErrors { field message code }
  }
}
"""
