"""A shop API with ten operations whose OpenAPI documents the right contract, and exactly three planted bugs.

Every constraint the document states is enforced (through pydantic, as a real FastAPI service does), except:
(a) POST /products: `name` documents `maxLength: 40`, and the handler takes any length;
(b) POST /orders: `quantity` documents `minimum: 1`, and the handler only refuses 0 (a negative passes);
(c) POST /orders: `product_id` is documented as required, and the handler defaults it to 0 and then fails
    looking that product up: a body without it gets a 500 instead of a 4xx.
The document is what FastAPI generates from the models, with the two constraints the code does not enforce
written into it (json_schema_extra), so the docs say what the service promises and the code breaks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tests.local_server import serving_in_thread

Role = Literal["admin", "member"]
Id = Annotated[int, Path(ge=1)]
EMAIL = r"^[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]{2,}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=50)]
    email: Annotated[str, Field(pattern=EMAIL, examples=["ann@example.com"])]
    role: Role
    age: Annotated[int, Field(ge=18, le=130)] | None = None


class UserPatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    role: Role | None = None


class User(BaseModel):
    id: int
    name: str
    email: str
    role: Role
    age: int | None = None


class ProductIn(Strict):
    # (a) documented maxLength 40, not enforced
    name: Annotated[str, Field(min_length=1, json_schema_extra={"maxLength": 40})]
    sku: Annotated[str, Field(pattern=r"^SKU-[0-9]{3}$")]
    price: Annotated[float, Field(gt=0, le=10_000)]
    stock: Annotated[int, Field(ge=0)] = 0


class Product(BaseModel):
    id: int
    name: str
    sku: str
    price: float
    stock: int


def _order_contract(schema: dict[str, Any]) -> None:
    """(c) The document says product_id is required; the model gives it a default (pydantic never checks a
    default against `ge`), so a body without it gets past validation."""
    schema["required"] = ["product_id", *schema.get("required", [])]
    schema["properties"]["product_id"].pop("default", None)


class OrderIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_order_contract)

    product_id: Annotated[int, Field(ge=1)] = 0
    # (b) documented minimum 1; the handler refuses 0 only
    quantity: Annotated[int, Field(le=100, json_schema_extra={"minimum": 1})]
    note: Annotated[str, Field(max_length=200)] | None = None


class Order(BaseModel):
    id: int
    product_id: int
    quantity: int
    note: str | None = None
    total: float


class Store:
    """The target's data; `requests` lists what reached it ("POST /orders 201"), for the tests to read."""

    def __init__(self) -> None:
        self.users: dict[int, dict[str, Any]] = {
            1: {"id": 1, "name": "Ann", "email": "ann@example.com", "role": "admin", "age": 40},
        }
        self.products: dict[int, dict[str, Any]] = {
            1: {"id": 1, "name": "Mug", "sku": "SKU-001", "price": 9.5, "stock": 10},
        }
        self.orders: dict[int, dict[str, Any]] = {
            1: {"id": 1, "product_id": 1, "quantity": 2, "note": None, "total": 19.0},
        }


def build(store: Store) -> FastAPI:
    app = FastAPI(title="Shop")

    def found(table: dict[int, dict[str, Any]], item_id: int, what: str) -> dict[str, Any]:
        if item_id not in table:
            raise HTTPException(404, f"no such {what}")
        return table[item_id]

    @app.get("/users", operation_id="listUsers")
    def list_users(
        limit: Annotated[int, Query(ge=1, le=100)] = 20, role: Annotated[Role, Query()] = "member"
    ) -> list[User]:
        return [User(**user) for user in store.users.values() if user["role"] == role][:limit]

    @app.post("/users", operation_id="createUser", status_code=201)
    def create_user(body: UserIn) -> User:
        user = {"id": max(store.users) + 1, **body.model_dump()}
        store.users[user["id"]] = user
        return User(**user)

    @app.get("/users/{user_id}", operation_id="getUser")
    def get_user(user_id: Id) -> User:
        return User(**found(store.users, user_id, "user"))

    @app.patch("/users/{user_id}", operation_id="updateUser")
    def update_user(user_id: Id, body: UserPatch) -> User:
        user = found(store.users, user_id, "user")
        user.update(body.model_dump(exclude_none=True))
        return User(**user)

    @app.get("/products", operation_id="listProducts")
    def list_products(
        q: Annotated[str, Query(max_length=30)] = "", min_price: Annotated[float, Query(ge=0)] = 0
    ) -> list[Product]:
        return [
            Product(**product)
            for product in store.products.values()
            if q.lower() in product["name"].lower() and product["price"] >= min_price
        ]

    @app.post("/products", operation_id="createProduct", status_code=201)
    def create_product(body: ProductIn) -> Product:
        product = {"id": max(store.products) + 1, **body.model_dump()}
        store.products[product["id"]] = product
        return Product(**product)

    @app.get("/products/{product_id}", operation_id="getProduct")
    def get_product(product_id: Id) -> Product:
        return Product(**found(store.products, product_id, "product"))

    @app.post("/orders", operation_id="createOrder", status_code=201, response_model=Order)
    def create_order(body: OrderIn) -> Any:
        if body.quantity == 0:  # (b) the check meant "at least 1"
            raise HTTPException(422, "quantity: at least 1")
        if body.product_id not in store.products:
            if body.product_id == 0:  # (c) the default of a missing product_id: nothing handles it
                return JSONResponse({"detail": "internal server error"}, status_code=500)
            raise HTTPException(404, "no such product")
        product = store.products[body.product_id]
        order = {"id": max(store.orders, default=0) + 1, **body.model_dump()}
        order["total"] = round(product["price"] * body.quantity, 2)
        store.orders[order["id"]] = order
        return Order(**order)

    @app.get("/orders/{order_id}", operation_id="getOrder")
    def get_order(order_id: Id) -> Order:
        return Order(**found(store.orders, order_id, "order"))

    @app.delete("/orders/{order_id}", operation_id="deleteOrder", status_code=204)
    def delete_order(order_id: Id) -> Response:
        store.orders.pop(order_id, None)  # deleting what is gone already is no error
        return Response(status_code=204)

    return app


@contextmanager
def serve(store: Store) -> Iterator[str]:
    """The target on 127.0.0.1 (a free port) in a thread of its own; yields its base URL."""
    with serving_in_thread(build(store), "the target") as url:
        yield f"{url}"
