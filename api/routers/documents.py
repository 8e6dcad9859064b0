"""Documents attached to objects: upload (PDF, PNG, JPEG, XLSX by content, ≤ 20 MiB), list, download."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from fastapi import File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.deps import CurrentActor, Cursor, Limit, SessionDep, SettingsDep
from api.routing import AreaRouter, TransactionalRoute
from api.uploads import BearerToken, receive
from kernel import documents, storage
from kernel.pagination import Page
from kernel.uploads import MAX_DOCUMENT_BYTES, check_upload, download_headers

router = AreaRouter(tags=["documents"], route_class=TransactionalRoute)
ObjectId = Annotated[str, Form(min_length=1, max_length=40)]
DocumentKind = Literal["appraisal_report", "pledge_registration", "loan_contract", "pledge_contract",
                       "license_contract", "claim_evidence", "other"]
assert set(get_args(DocumentKind)) == set(documents.KINDS)  # one list of kinds


class DocumentOut(BaseModel):
    id: str
    object_type: str
    object_id: str
    kind: str
    sha256: str
    size: int
    content_type: str
    filename: str
    org_id: str
    created_at: datetime
    content_url: str


def _out(doc: documents.Document) -> DocumentOut:
    return DocumentOut(**doc.model_dump(include=set(DocumentOut.model_fields) - {"content_url"}),
                       content_url=f"/api/v1/documents/{doc.id}/content")


@router.post("/documents", status_code=201, response_model=DocumentOut,
             summary="Attach a document to an object the caller is a party of (the same file again: 200)")
async def upload_document(request: Request, session: SessionDep, settings: SettingsDep,
                          token: BearerToken,
                          file: Annotated[UploadFile, File(description="PDF, PNG, JPEG or XLSX, at most 20 MiB")],
                          object_type: Annotated[str, Form(max_length=40)], object_id: ObjectId,
                          kind: Annotated[DocumentKind, Form()]) -> Response:
    actor, stored = await receive(request, settings, token, file, MAX_DOCUMENT_BYTES, check_upload)
    doc, created = await documents.attach(session, actor, object_type_name=object_type, object_id=object_id,
                                          kind=kind, sha256=stored.sha256, size=stored.size,
                                          content_type=stored.checked, filename=stored.filename)
    return JSONResponse(_out(doc).model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/documents", response_model=Page[DocumentOut], summary="The documents of one object")
async def list_documents(session: SessionDep, actor: CurrentActor,
                         object_type: Annotated[str, Query(max_length=40)],
                         object_id: Annotated[str, Query(max_length=40)],
                         kind: Annotated[str | None, Query(max_length=30)] = None,
                         limit: Limit = 20, cursor: Cursor = None) -> Page[DocumentOut]:
    rows, has_more, next_cursor = await documents.list_documents(session, actor, object_type, object_id, kind,
                                                                 limit, cursor)
    return Page[DocumentOut](data=[_out(d) for d in rows], has_more=has_more, next_cursor=next_cursor)


@router.get("/documents/{document_id}", response_model=DocumentOut, summary="One document's record")
async def get_document(document_id: str, session: SessionDep, actor: CurrentActor) -> DocumentOut:
    return _out(await documents.get_document(session, actor, document_id))


@router.get("/documents/{document_id}/content", summary="The document's file, as stored")
async def document_content(document_id: str, session: SessionDep, actor: CurrentActor) -> Response:
    doc = await documents.get_document(session, actor, document_id)
    sha, content_type, name = doc.sha256, doc.content_type, doc.filename or f"{doc.kind}-{doc.id}"
    await session.rollback()  # end the read before the blob is fetched (maybe over the network)
    data = await storage.get(sha)
    return Response(data, headers={**download_headers(content_type, name), "ETag": f'"{sha}"'})


@router.delete("/documents/{document_id}", status_code=204, summary="Soft-delete a document (the uploader's "
                                                                    "organisation; kept in the audit log)")
async def delete_document(document_id: str, session: SessionDep, actor: CurrentActor) -> Response:
    await documents.delete_document(session, actor, document_id)
    return Response(status_code=204)
