"""Wire shapes of ``/v1/vector_stores`` (OpenAI's Vector Stores API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workhorse.api.shared import Cursor, MetadataMap, when

AttributeValue = str | float | bool
Attributes = Annotated[
    dict[Annotated[str, Field(max_length=64)], AttributeValue], Field(max_length=16)
]


class StaticChunking(BaseModel):
    """Chunk sizes, in tokens of the embedding model."""

    model_config = ConfigDict(extra="forbid")
    max_chunk_size_tokens: int = Field(ge=100, le=4096)
    chunk_overlap_tokens: int = Field(ge=0, le=2048)

    @model_validator(mode="after")
    def _overlap_at_most_half(self) -> StaticChunking:
        if self.chunk_overlap_tokens > self.max_chunk_size_tokens // 2:
            raise ValueError("chunk_overlap_tokens must not exceed half of max_chunk_size_tokens")
        return self


class ChunkingStrategy(BaseModel):
    """``auto`` (256-token chunks, 64 overlapping: the embedding model's window) or ``static``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=when(
            "type",
            "static",
            {"required": ["static"], "properties": {"static": {"type": "object"}}},
            {"properties": {"static": {"type": "null"}}},
        ),
    )
    type: Literal["auto", "static"]
    static: StaticChunking | None = None

    @model_validator(mode="after")
    def _static_needs_sizes(self) -> ChunkingStrategy:
        if self.type == "static" and self.static is None:
            raise ValueError("a static chunking_strategy needs its static sizes")
        if self.type == "auto" and self.static is not None:
            raise ValueError("static sizes are only for a static chunking_strategy")
        return self


class ExpiresAfter(BaseModel):
    """Expiry counted from the last activity."""

    model_config = ConfigDict(extra="forbid")
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


FileIds = Annotated[list[Annotated[str, Field(min_length=1, max_length=40)]], Field(max_length=500)]


class VectorStoreCreateRequest(BaseModel):
    """A new vector store, optionally with files to ingest."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=256)
    file_ids: FileIds = []
    chunking_strategy: ChunkingStrategy | None = None
    metadata: MetadataMap | None = None
    expires_after: ExpiresAfter | None = None
    description: str | None = Field(default=None, max_length=512)


class VectorStoreUpdateRequest(BaseModel):
    """Changes to a vector store."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=256)
    metadata: MetadataMap | None = None
    expires_after: ExpiresAfter | None = None


class FileCountsOut(BaseModel):
    """Files by status."""

    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int


class VectorStoreObject(BaseModel):
    """A vector store."""

    id: str
    object: Literal["vector_store"] = "vector_store"
    created_at: int
    name: str | None
    usage_bytes: int
    file_counts: FileCountsOut
    status: Literal["expired", "in_progress", "completed"]
    expires_after: ExpiresAfter | None
    expires_at: int | None
    last_active_at: int
    metadata: dict[str, str]


class VectorStoreList(BaseModel):
    """A page of vector stores."""

    object: Literal["list"] = "list"
    data: list[VectorStoreObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VectorStoreDeleted(BaseModel):
    """The answer to a delete."""

    id: str
    object: Literal["vector_store.deleted"] = "vector_store.deleted"
    deleted: bool = True


class ListQuery(BaseModel):
    """Pagination of lists."""

    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=20, ge=1, le=100)
    after: Cursor = None
    before: str | None = None
    order: Literal["asc", "desc"] = "desc"


class FileListQuery(ListQuery):
    """Pagination and status filter of a store's or batch's files."""

    filter: Literal["in_progress", "completed", "failed", "cancelled"] | None = None


class VectorStoreFileCreateRequest(BaseModel):
    """A file to add to a vector store."""

    model_config = ConfigDict(extra="forbid")
    file_id: str = Field(min_length=1, max_length=40)
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategy | None = None


class VectorStoreFileUpdateRequest(BaseModel):
    """New attributes for a file of a vector store."""

    model_config = ConfigDict(extra="forbid")
    attributes: Attributes | None


class LastError(BaseModel):
    """Why a file's ingestion failed."""

    code: Literal["server_error", "unsupported_file", "invalid_file"]
    message: str


class VectorStoreFileObject(BaseModel):
    """A file of a vector store and its ingestion state."""

    id: str
    object: Literal["vector_store.file"] = "vector_store.file"
    usage_bytes: int
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "failed", "cancelled"]
    last_error: LastError | None
    chunking_strategy: dict[str, Any]
    attributes: dict[str, AttributeValue]


class VectorStoreFileList(BaseModel):
    """A page of a store's files."""

    object: Literal["list"] = "list"
    data: list[VectorStoreFileObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VectorStoreFileDeleted(BaseModel):
    """The answer to removing a file from a store."""

    id: str
    object: Literal["vector_store.file.deleted"] = "vector_store.file.deleted"
    deleted: bool = True


class BatchFile(BaseModel):
    """A file of a batch, with its own attributes."""

    model_config = ConfigDict(extra="forbid")
    file_id: str = Field(min_length=1, max_length=40)
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategy | None = None


class FileBatchCreateRequest(BaseModel):
    """Files to add together: ``file_ids`` (sharing ``attributes``) or ``files``."""

    model_config = ConfigDict(
        extra="forbid",
        # One of the two lists, not empty, and not both.
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["file_ids"],
                    "properties": {"file_ids": {"minItems": 1}, "files": {"maxItems": 0}},
                },
                {
                    "required": ["files"],
                    "properties": {"files": {"minItems": 1}, "file_ids": {"maxItems": 0}},
                },
            ]
        },
    )
    file_ids: FileIds = []
    files: Annotated[list[BatchFile], Field(max_length=500)] = []
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategy | None = None

    @model_validator(mode="after")
    def _some_files(self) -> FileBatchCreateRequest:
        if not self.file_ids and not self.files:
            raise ValueError("give file_ids or files")
        if self.file_ids and self.files:
            raise ValueError("give file_ids or files, not both")
        return self


class FileBatchObject(BaseModel):
    """A file batch."""

    id: str
    object: Literal["vector_store.files_batch"] = "vector_store.files_batch"
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    file_counts: FileCountsOut


class ComparisonFilter(BaseModel):
    """Compare one attribute with a value."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    key: str
    value: AttributeValue | list[AttributeValue]


class CompoundFilter(BaseModel):
    """Combine filters with ``and`` or ``or``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["and", "or"]
    filters: Annotated[list[ComparisonFilter | CompoundFilter], Field(min_length=1, max_length=32)]


class RankingOptions(BaseModel):
    """How results are ranked and cut."""

    model_config = ConfigDict(extra="forbid")
    ranker: Literal["auto", "default-2024-11-15", "none"] | None = None
    score_threshold: float | None = Field(default=None, ge=0, le=1)


class SearchRequest(BaseModel):
    """A search of a vector store."""

    model_config = ConfigDict(extra="forbid")
    # Not blank: some character other than white space.
    query: (
        Annotated[str, Field(pattern=r"\S")]
        | Annotated[list[Annotated[str, Field(pattern=r"\S")]], Field(min_length=1, max_length=8)]
    )
    max_num_results: int = Field(default=10, ge=1, le=50)
    filters: ComparisonFilter | CompoundFilter | None = None
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = False

    def text(self) -> str:
        """The query as one text."""
        return self.query if isinstance(self.query, str) else " ".join(self.query)


class SearchContent(BaseModel):
    """A matching chunk's text."""

    type: Literal["text"] = "text"
    text: str


class SearchResult(BaseModel):
    """One matching chunk."""

    file_id: str
    filename: str
    score: float
    attributes: dict[str, AttributeValue]
    content: list[SearchContent]
    location: str | None = None
    """Workhorse adds where in the file the chunk is (page, slide, sheet and row...)."""


class SearchResultsPage(BaseModel):
    """The results of a search."""

    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[SearchResult]
    has_more: bool = False
    next_page: str | None = None


class FileSearch(BaseModel):
    """Which vector stores to search, how many results, which files."""

    model_config = ConfigDict(extra="forbid")
    vector_store_ids: list[str] = Field(min_length=1, max_length=16)
    max_num_results: int = Field(default=10, ge=1, le=50)
    filters: ComparisonFilter | CompoundFilter | None = None
    ranking_options: RankingOptions | None = None
