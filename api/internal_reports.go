package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"smmapi/service"
)

// salesReport answers GET /reports/sales?from=&to=&group_by=.
func (h *internalAPI) salesReport(c echo.Context) error {
	in := service.SalesReportInput{From: c.QueryParam("from"), To: c.QueryParam("to"), GroupBy: c.QueryParam("group_by")}
	out, err := h.a.Sales.Do(c.Request().Context(), in)
	return respond(c, http.StatusOK, out, err)
}
