package store

import (
	"context"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

var _ service.SiteStore = (*DB)(nil)

// CreateSite inserts a child site and its domains in one transaction.
func (db *DB) CreateSite(ctx context.Context, s *model.Site, domains []string) error {
	err := db.transact(ctx, func(tx *gorm.DB) error {
		s.ID = 0 // a run again after a conflict inserts afresh (see PlaceOrder)
		if err := tx.Create(s).Error; err != nil {
			return dbErr(err, "site")
		}
		for _, d := range domains {
			if err := tx.Create(&model.SiteDomain{SiteID: s.ID, Domain: d}).Error; err != nil {
				return dbErr(err, "domain "+d)
			}
		}
		return nil
	})
	return dbErr(err, "site")
}

// ListSites returns sites with ID > after and their domains.
func (db *DB) ListSites(ctx context.Context, after uint64, limit int) ([]model.Site, map[uint64][]string, error) {
	var sites []model.Site
	if err := db.g.WithContext(ctx).Where("id > ?", after).Order("id").Limit(limit).Find(&sites).Error; err != nil {
		return nil, nil, dbErr(err, "site")
	}
	ids := make([]uint64, len(sites))
	for i, s := range sites {
		ids[i] = s.ID
	}
	var doms []model.SiteDomain
	if len(ids) > 0 {
		if err := db.g.WithContext(ctx).Where("site_id IN ?", ids).Order("id").Find(&doms).Error; err != nil {
			return nil, nil, dbErr(err, "site")
		}
	}
	out := map[uint64][]string{}
	for _, d := range doms {
		out[d.SiteID] = append(out[d.SiteID], d.Domain)
	}
	return sites, out, nil
}

// SiteIDByHost returns the site whose domain is host, or the main site.
func (db *DB) SiteIDByHost(ctx context.Context, host string) (uint64, error) {
	if host == "" {
		return MainSiteID, nil
	}
	var ids []uint64
	if err := db.r.WithContext(ctx).Model(&model.SiteDomain{}).Where("domain = ?", host).Limit(1).Pluck("site_id", &ids).Error; err != nil {
		return 0, dbErr(err, "site")
	}
	if len(ids) == 0 {
		return MainSiteID, nil
	}
	return ids[0], nil
}

// SiteExists reports whether a site with id exists.
func (db *DB) SiteExists(ctx context.Context, id uint64) (bool, error) {
	var n int64
	if err := db.g.WithContext(ctx).Model(&model.Site{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return false, dbErr(err, "site")
	}
	return n > 0, nil
}

// SetSiteFormat sets a site's order ID format (nil: NULL, inherit).
func (db *DB) SetSiteFormat(ctx context.Context, id uint64, format *string) (model.Site, []string, error) {
	g := db.g.WithContext(ctx)
	res := g.Model(&model.Site{}).Where("id = ?", id).
		Updates(map[string]any{"order_id_format": format, "updated_at": db.now()})
	if res.Error != nil {
		return model.Site{}, nil, dbErr(res.Error, "site")
	}
	var s model.Site
	if err := g.Take(&s, "id = ?", id).Error; err != nil {
		return s, nil, dbErr(err, "site")
	}
	var domains []string
	err := g.Model(&model.SiteDomain{}).Where("site_id = ?", id).Order("id").Pluck("domain", &domains).Error
	return s, domains, dbErr(err, "site")
}
