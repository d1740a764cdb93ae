package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// The OpenAPI documents of both APIs live beside the code (api/openapi/) and
// are checked against every response of the test suite, so they cannot drift.
var (
	//go:embed openapi/internal.json
	internalDoc []byte
	//go:embed openapi/public.json
	publicDoc []byte
)

// docRoutes serves both documents behind the internal token: the public one
// too, because the admin frontend is who reads it.
func (h *internalAPI) docRoutes(g *echo.Group) {
	g.GET("/openapi.json", serveDoc(internalDoc))
	g.GET("/openapi-public.json", serveDoc(publicDoc))
}

// serveDoc answers the embedded bytes as they are.
func serveDoc(doc []byte) echo.HandlerFunc {
	return func(c echo.Context) error { return c.Blob(http.StatusOK, "application/json", doc) }
}
