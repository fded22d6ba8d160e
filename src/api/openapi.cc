// The OpenAPI document, embedded from docs/api/openapi.json by embed_text.cmake.
#include "api/openapi_json.h"
#include "api/server.h"

namespace orion::api {

std::string_view openapi_document() {
  return {reinterpret_cast<const char*>(embedded::kOpenApiJson), embedded::kOpenApiJsonSize};
}

}  // namespace orion::api
