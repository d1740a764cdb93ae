package service

// Wire contract (action=services): a JSON array of enabled services by
// category then ID. v2 fields: service, name, type, category, rate, min, max,
// refill, cancel (IDs and numbers as strings); v3 adds dripfeed and desc.

import (
	"context"
	"fmt"
	"strconv"

	"smmapi/model"
)

// ServiceV2 is one entry of the v2 catalog, fields in wire order.
type ServiceV2 struct {
	Service  string      `json:"service"`
	Name     string      `json:"name"`
	Type     string      `json:"type"`
	Category string      `json:"category"`
	Rate     model.Money `json:"rate"`
	Min      string      `json:"min"`
	Max      string      `json:"max"`
	Refill   bool        `json:"refill"`
	Cancel   bool        `json:"cancel"`
}

// ServiceV3 is one entry of the v3 catalog: v2 plus dripfeed and desc.
type ServiceV3 struct {
	ServiceV2
	Dripfeed bool   `json:"dripfeed"`
	Desc     string `json:"desc"`
}

// Services answers the services action.
type Services struct {
	catalog CatalogStore
}

// NewServices returns a Services.
func NewServices(catalog CatalogStore) *Services {
	return &Services{catalog: catalog}
}

// Do returns the public catalog in the shape of API version (2 or 3).
func (s *Services) Do(ctx context.Context, version int) (any, error) {
	rows, err := s.catalog.EnabledServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	if version == 2 {
		out := make([]ServiceV2, len(rows))
		for i, r := range rows {
			out[i] = serviceV2(r)
		}
		return out, nil
	}
	out := make([]ServiceV3, len(rows))
	for i, r := range rows {
		out[i] = ServiceV3{ServiceV2: serviceV2(r), Dripfeed: r.Dripfeed, Desc: r.Description}
	}
	return out, nil
}

func serviceV2(r model.Service) ServiceV2 {
	return ServiceV2{
		Service:  strconv.FormatUint(r.ID, 10),
		Name:     r.Name,
		Type:     r.Type,
		Category: r.Category,
		Rate:     r.Rate,
		Min:      strconv.FormatInt(r.Min, 10),
		Max:      strconv.FormatInt(r.Max, 10),
		Refill:   r.Refill,
		Cancel:   r.Cancel,
	}
}
