"""The descriptor set the transcoder reads: the API's, with the answer of every method marked
`(farmlokal.api.v1.rest_json_body)` declared a google.api.HttpBody.

The transcoder passes an HttpBody answer through as its body instead of printing the message, so
for those methods the service's pre-rendered JSON (farmlokal_common/rest_json.py) goes out as it
is. Only the edge sees this set: gRPC callers, the services and the OpenAPI document keep the API's
own. It is embedded in the edge's config (`proto_descriptor_bin`), so a deployment needs no
descriptor file beside it and the two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

from google.api import httpbody_pb2
from google.protobuf import descriptor_pb2, descriptor_pool

from farmlokal_common import api_surface

HTTP_BODY = "." + httpbody_pb2.HttpBody.DESCRIPTOR.full_name
HTTP_BODY_FILE = httpbody_pb2.DESCRIPTOR.name


def transcoder_descriptor(descriptor_path: Path) -> bytes:
    """The serialized set, without source info (comments the transcoder never reads)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_path.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    names = {file.name for file in files.file}
    for file in files.file:
        file.ClearField("source_code_info")
        for service in file.service:
            for method in service.method:
                full_name = f"{file.package}.{service.name}.{method.name}"
                if api_surface.rest_json_body(pool.FindMethodByName(full_name)):
                    method.output_type = HTTP_BODY
                    if HTTP_BODY_FILE not in file.dependency:
                        file.dependency.append(HTTP_BODY_FILE)
    if HTTP_BODY_FILE not in names:
        httpbody_pb2.DESCRIPTOR.CopyToProto(files.file.add())
    return bytes(_dependencies_first(files).SerializeToString())


def _dependencies_first(files: descriptor_pb2.FileDescriptorSet) -> descriptor_pb2.FileDescriptorSet:
    """Envoy builds the files in the set's order, so each must follow the files it imports."""
    by_name = {file.name: file for file in files.file}
    ordered: list[descriptor_pb2.FileDescriptorProto] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name in placed or name not in by_name:
            return
        placed.add(name)
        for dependency in by_name[name].dependency:
            place(dependency)
        ordered.append(by_name[name])

    for file in files.file:
        place(file.name)
    return descriptor_pb2.FileDescriptorSet(file=ordered)
