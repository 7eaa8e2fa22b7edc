"""The API that fixtures/openapi/petstore-3.* describe, in memory: what the imported cases run against.

It checks what a real server checks (the bearer token, the API key, basic auth, request bodies through
pydantic models that refuse unknown fields, query parameters' ranges and enums) and answers in exactly the
documented shapes, so a case passes only when the import built its request and its checks right.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Form, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tests.local_server import serving_in_thread

TOKEN = "tok-petclinic-1"
API_KEY = "key-petclinic-1"
ADMIN = ("admin", "admin-pass-1")
USER_PASSWORDS = {"alice": "alice-pass", "bob": "bob-pass"}


PetId = Annotated[int, Path(ge=1)]
OrderId = Annotated[int, Path(ge=1, le=10)]
Status = Literal["available", "pending", "sold"]
Username = Annotated[str, Path(min_length=3)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OwnerIn(Strict):
    name: str
    phone: str | None = None


class PetIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=50)]
    petType: Literal["cat", "dog"]  # the API's own field names
    status: Literal["available", "pending", "sold"] | None = None
    tags: list[str] | None = None
    owner: OwnerIn | None = None
    huntingSkill: Literal["clueless", "lazy", "adventurous", "aggressive"] | None = None
    packSize: Annotated[int, Field(gt=0)] | None = None


class PetPatch(Strict):
    name: Annotated[str, Field(min_length=1)] | None = None
    status: Literal["available", "pending", "sold"] | None = None


class VaccinationIn(Strict):
    vaccine: Literal["rabies", "distemper", "parvovirus"]
    date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    vet: str | None = None


class VisitIn(Strict):
    date: str
    reason: Annotated[str, Field(min_length=3)]
    callbackUrl: str | None = None


class AddressIn(Strict):
    street: str
    city: str
    zip: Annotated[str, Field(pattern=r"^[0-9]{5}$")]
    country: Annotated[str, Field(min_length=2, max_length=2)] = "FR"


class DeliveryIn(Strict):
    method: Literal["courier", "pickup"]
    address: AddressIn | None = None
    store: str | None = None


class OrderIn(Strict):
    petId: Annotated[int, Field(ge=1)]
    quantity: Annotated[int, Field(ge=1, le=5)]
    delivery: DeliveryIn
    note: str | None = None


class OrderStatusIn(Strict):
    status: Literal["placed", "approved", "delivered"]


class OrderItemIn(Strict):
    sku: Annotated[str, Field(pattern=r"^SKU-[0-9]{3}$")]
    quantity: Annotated[int, Field(ge=1)]


class CategoryIn(Strict):
    name: Annotated[str, Field(min_length=2)]
    parent: CategoryIn | None = None
    children: list[CategoryIn] | None = None


class UserIn(Strict):
    username: Annotated[str, Field(min_length=3)]
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    password: Annotated[str, Field(min_length=8)]
    role: Literal["customer", "staff"] = "customer"
    phone: str | None = None


class Store:
    """The target's data; `requests` counts what reached each operation (the import's cases are what ran)."""

    def __init__(self) -> None:
        self.pets: dict[int, dict[str, Any]] = {
            1: {"id": 1, "name": "Tom", "petType": "cat", "huntingSkill": "lazy", "status": "available", "tags": []},
            2: {"id": 2, "name": "Rex", "petType": "dog", "packSize": 2, "status": "pending", "owner": None},
            3: {"id": 3, "name": "Kitty", "petType": "cat", "huntingSkill": "adventurous", "status": "sold"},
        }
        self.orders: dict[int, dict[str, Any]] = {
            number: {
                "id": number,
                "petId": 1,
                "quantity": 1,
                "delivery": {"method": "pickup", "store": "LYON-1"},
                "note": None,
                "status": "placed",
                "placedAt": "2024-05-01T10:00:00Z",
                "shipDate": None,
            }
            for number in (1, 2, 3)
        }
        self.items: dict[int, list[dict[str, Any]]] = {1: [{"sku": "SKU-001", "quantity": 2, "price": 9.5}]}
        self.users: dict[str, dict[str, Any]] = {
            name: {"id": index, "username": name, "email": f"{name}@example.com", "role": "customer", "phone": None}
            for index, name in enumerate(USER_PASSWORDS, start=1)
        }
        self.addresses: dict[str, list[dict[str, Any]]] = {"alice": []}
        self.vaccinations: list[dict[str, Any]] = []
        self.visits: list[dict[str, Any]] = []
        self.categories: list[dict[str, Any]] = [
            {"id": 1, "name": "Food", "children": [{"id": 2, "name": "Dry food", "children": []}]}
        ]
        self.requests: list[str] = []


def _pet(store: Store, pet_id: int) -> dict[str, Any]:
    if pet_id not in store.pets:
        raise HTTPException(404, "no such pet")
    return store.pets[pet_id]


def _kind_fields(body: PetIn) -> dict[str, Any]:
    """A cat has a hunting skill and no pack, a dog a pack and no hunting skill: the `oneOf` of the spec."""
    pet = body.model_dump(exclude_none=True)
    wanted, unwanted = ("huntingSkill", "packSize") if body.petType == "cat" else ("packSize", "huntingSkill")
    if wanted not in pet or unwanted in pet:
        raise HTTPException(422, f"a {body.petType} needs {wanted} and no {unwanted}")
    return pet


def build(store: Store) -> FastAPI:
    def count(request: Request) -> None:
        store.requests.append(f"{request.method} {request.url.path}")

    app = FastAPI(dependencies=[Depends(count)])

    @app.exception_handler(HTTPException)
    async def error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"code": exc.status_code, "message": str(exc.detail)}, status_code=exc.status_code)

    def bearer(authorization: Annotated[str, Header()] = "") -> None:
        if authorization != f"Bearer {TOKEN}":
            raise HTTPException(401, "a bearer token is needed")

    def api_key(x_api_key: Annotated[str, Header()] = "") -> None:
        if x_api_key != API_KEY:
            raise HTTPException(401, "an API key is needed")

    def admin(authorization: Annotated[str, Header()] = "") -> None:
        expected = "Basic " + base64.b64encode(":".join(ADMIN).encode()).decode()
        if authorization != expected:
            raise HTTPException(401, "admin credentials are needed")

    signed_in = [Depends(bearer)]

    @app.get("/v2/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": "2024-05-01"}

    @app.get("/v2/pets", dependencies=signed_in)
    def list_pets(
        response: Response,
        x_request_id: Annotated[str, Header(pattern=r"^[0-9a-f-]{36}$")],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        status: Status | None = None,
    ) -> list[dict[str, Any]]:
        pets = [pet for pet in store.pets.values() if status is None or pet.get("status") == status][:limit]
        response.headers["X-Total-Count"] = str(len(pets))
        return pets

    @app.post("/v2/pets", dependencies=signed_in, status_code=201)
    def add_pet(body: PetIn, x_request_id: Annotated[str, Header()]) -> dict[str, Any]:
        pet = {"id": max(store.pets, default=0) + 1, **_kind_fields(body)}
        store.pets[pet["id"]] = pet
        return pet

    @app.get("/v2/pets/findByStatus", dependencies=signed_in)
    def find_by_status(status: Status) -> list[dict[str, Any]]:
        return [pet for pet in store.pets.values() if pet.get("status") == status]

    @app.get("/v2/pets/findByTags", dependencies=signed_in)
    def find_by_tags(tags: str) -> list[dict[str, Any]]:
        wanted = set(tags.split(","))
        return [pet for pet in store.pets.values() if wanted & set(pet.get("tags") or [])]

    @app.get("/v2/pets/stats", dependencies=signed_in)
    def stats() -> dict[str, Any]:
        return {"count": len(store.pets), "averageAge": None, "oldest": store.pets.get(1)}

    @app.get("/v2/pets/{pet_id}", dependencies=signed_in)
    def get_pet(pet_id: PetId) -> dict[str, Any]:
        return _pet(store, pet_id)

    @app.put("/v2/pets/{pet_id}", dependencies=signed_in)
    def put_pet(pet_id: PetId, body: PetIn) -> dict[str, Any]:
        _pet(store, pet_id)
        store.pets[pet_id] = {"id": pet_id, **_kind_fields(body)}
        return store.pets[pet_id]

    @app.patch("/v2/pets/{pet_id}", dependencies=signed_in)
    def patch_pet(pet_id: PetId, body: PetPatch) -> dict[str, Any]:
        changes = body.model_dump(exclude_none=True)
        if not changes:
            raise HTTPException(422, "nothing to change")
        _pet(store, pet_id).update(changes)
        return store.pets[pet_id]

    @app.delete("/v2/pets/{pet_id}", dependencies=signed_in, status_code=204)
    def delete_pet(pet_id: PetId) -> Response:
        _pet(store, pet_id)
        del store.pets[pet_id]
        return Response(status_code=204)

    @app.post("/v2/pets/{pet_id}/form", dependencies=signed_in)
    def pet_form(pet_id: PetId, name: Annotated[str, Form()], status: Annotated[Status | None, Form()] = None) -> Any:
        pet = _pet(store, pet_id)
        pet.update({"name": name} | ({"status": status} if status else {}))
        return pet

    @app.post("/v2/pets/{pet_id}/uploadImage", dependencies=signed_in)
    def upload(pet_id: PetId, caption: Annotated[str, Form()]) -> dict[str, Any]:
        _pet(store, pet_id)
        return {"code": 200, "message": f"stored: {caption}"}

    @app.get("/v2/pets/{pet_id}/photos", dependencies=signed_in)
    def photos(pet_id: PetId) -> list[dict[str, Any]]:
        _pet(store, pet_id)
        return [{"url": f"https://img.example.com/{pet_id}.jpg", "takenAt": "2024-04-01T12:00:00Z"}]

    @app.get("/v2/pets/{pet_id}/vaccinations", dependencies=signed_in)
    def vaccinations(pet_id: PetId) -> list[dict[str, Any]]:
        _pet(store, pet_id)
        return [v for v in store.vaccinations if v["petId"] == pet_id]

    @app.post("/v2/pets/{pet_id}/vaccinations", dependencies=signed_in, status_code=201)
    def vaccinate(pet_id: PetId, body: VaccinationIn) -> dict[str, Any]:
        _pet(store, pet_id)
        record = {"id": len(store.vaccinations) + 1, "petId": pet_id, "vet": None, **body.model_dump(exclude_none=True)}
        store.vaccinations.append(record)
        return record

    @app.get("/v2/pets/{pet_id}/visits", dependencies=signed_in)
    def visits(pet_id: PetId, since: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")]) -> list[dict[str, Any]]:
        _pet(store, pet_id)
        return [visit for visit in store.visits if visit["date"] >= since]

    @app.post("/v2/pets/{pet_id}/visits", dependencies=signed_in, status_code=201)
    def book(pet_id: PetId, body: VisitIn) -> dict[str, Any]:
        _pet(store, pet_id)
        visit = {"id": len(store.visits) + 1, **body.model_dump(exclude_none=True)}
        store.visits.append(visit)
        return visit

    @app.get("/v2/store/inventory", dependencies=[Depends(api_key)])
    def inventory() -> dict[str, int]:
        counts: dict[str, int] = {}
        for pet in store.pets.values():
            status = pet.get("status") or "unknown"
            counts[status] = counts.get(status, 0) + 1
        return counts

    @app.get("/v2/store/orders", dependencies=signed_in)
    def orders(limit: Annotated[int, Query(ge=1, le=100)], page: Annotated[int, Query(ge=1)] = 1) -> dict[str, Any]:
        everything = list(store.orders.values())
        return {"page": page, "total": len(everything), "items": everything[(page - 1) * limit : page * limit]}

    @app.post("/v2/store/orders", dependencies=signed_in, status_code=201)
    def place(body: OrderIn) -> dict[str, Any]:
        delivery = body.delivery
        if (delivery.method == "courier") != (delivery.address is not None and delivery.store is None):
            raise HTTPException(422, "a courier needs an address, a pickup a store")
        _pet(store, body.petId)
        order = {
            "id": max(store.orders) + 1,
            **body.model_dump(exclude_none=True),
            "status": "placed",
            "placedAt": "2024-05-02T09:30:00Z",
            "shipDate": None,
        }
        store.orders[order["id"]] = order
        return order

    def _order(order_id: int) -> dict[str, Any]:
        if order_id not in store.orders:
            raise HTTPException(404, "no such order")
        return store.orders[order_id]

    @app.get("/v2/store/orders/{order_id}", dependencies=signed_in)
    def get_order(order_id: OrderId) -> dict[str, Any]:
        return _order(order_id)

    @app.delete("/v2/store/orders/{order_id}", dependencies=signed_in, status_code=204)
    def delete_order(order_id: OrderId) -> Response:
        _order(order_id)
        del store.orders[order_id]
        return Response(status_code=204)

    @app.put("/v2/store/orders/{order_id}/status", dependencies=signed_in)
    def set_status(order_id: OrderId, body: OrderStatusIn) -> dict[str, Any]:
        _order(order_id)["status"] = body.status
        return store.orders[order_id]

    @app.get("/v2/store/orders/{order_id}/items", dependencies=signed_in)
    def items(order_id: OrderId) -> list[dict[str, Any]]:
        _order(order_id)
        return store.items.get(order_id, [])

    @app.post("/v2/store/orders/{order_id}/items", dependencies=signed_in, status_code=201)
    def add_item(order_id: OrderId, body: OrderItemIn) -> dict[str, Any]:
        _order(order_id)
        item = {**body.model_dump(), "price": 4.25}
        store.items.setdefault(order_id, []).append(item)
        return item

    @app.get("/v2/store/coupons/{code}", dependencies=signed_in)
    def coupon(code: Annotated[str, Path(pattern=r"^[A-Z]{4}[0-9]{2}$")]) -> dict[str, Any]:
        return {"code": code, "percent": int(code[4:]), "expires": None}

    @app.get("/v2/categories", dependencies=signed_in)
    def categories() -> list[dict[str, Any]]:
        return store.categories

    @app.post("/v2/categories", dependencies=signed_in, status_code=201)
    def add_category(body: CategoryIn) -> dict[str, Any]:
        category = {"id": len(store.categories) + 10, **body.model_dump(exclude_none=True)}
        store.categories.append(category)
        return category

    def _public(user: UserIn) -> dict[str, Any]:
        return {"id": len(store.users) + 1, **user.model_dump(exclude={"password"})}

    @app.post("/v2/users", dependencies=signed_in, status_code=201)
    def create_user(body: UserIn) -> dict[str, Any]:
        if body.username in store.users:
            raise HTTPException(409, "taken")
        store.users[body.username] = _public(body)
        return store.users[body.username]

    @app.post("/v2/users/createWithList", dependencies=[Depends(admin)])
    def create_users(body: list[UserIn]) -> list[dict[str, Any]]:
        if not body:
            raise HTTPException(422, "at least one user")
        return [_public(user) for user in body]

    @app.get("/v2/users/login")
    def login(response: Response, username: str, password: str) -> dict[str, Any]:
        if USER_PASSWORDS.get(username) != password:
            raise HTTPException(401, "wrong username or password")
        response.headers["X-Rate-Limit"] = "100"
        return {"token": secrets.token_hex(8), "expiresAt": "2024-05-02T10:00:00Z"}

    @app.post("/v2/users/logout", dependencies=signed_in, status_code=204)
    def logout() -> Response:
        return Response(status_code=204)

    def _user(username: str) -> dict[str, Any]:
        if username not in store.users:
            raise HTTPException(404, "no such user")
        return store.users[username]

    @app.get("/v2/users/{username}", dependencies=signed_in)
    def get_user(username: Username) -> dict[str, Any]:
        return _user(username)

    @app.put("/v2/users/{username}", dependencies=signed_in)
    def put_user(username: Username, body: UserIn) -> dict[str, Any]:
        user = _user(username)
        user.update(body.model_dump(exclude={"password", "username"}))
        return user

    @app.delete("/v2/users/{username}", dependencies=signed_in, status_code=204)
    def delete_user(username: Username) -> Response:
        _user(username)
        del store.users[username]
        return Response(status_code=204)

    @app.get("/v2/users/{username}/addresses", dependencies=signed_in)
    def addresses(username: Username) -> list[dict[str, Any]]:
        _user(username)
        return store.addresses.get(username, [])

    @app.post("/v2/users/{username}/addresses", dependencies=signed_in, status_code=201)
    def add_address(username: Username, body: AddressIn) -> dict[str, Any]:
        _user(username)
        address = body.model_dump()
        store.addresses.setdefault(username, []).append(address)
        return address

    return app


@contextmanager
def serve(store: Store) -> Iterator[str]:
    """The target on 127.0.0.1 (a free port) in a thread of its own; yields its base URL."""
    with serving_in_thread(build(store), "the OpenAPI target") as url:
        yield f"{url}/v2"
