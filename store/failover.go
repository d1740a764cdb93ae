package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	mysqldrv "github.com/go-sql-driver/mysql"
)

// failover is the connector of a database with several addresses
// (database.dsn and database.fallback_dsns, e.g. the nodes of a Galera
// cluster): each new connection goes to the node that answered last, or
// to the next one that answers, so that when that node dies the pool
// refills on another within one dial. On Galera a node that answers but is
// not ready (joining, or cut off from the primary component, where every
// query fails with 1047) is passed over.
type failover struct {
	nodes  []driver.Connector
	cur    atomic.Int32
	galera bool
	log    *slog.Logger
}

func newFailover(dsns []string, galera bool, log *slog.Logger) (*failover, error) {
	f := &failover{galera: galera, log: log}
	for i, d := range dsns {
		cfg, err := mysqldrv.ParseDSN(d)
		if err != nil {
			return nil, fmt.Errorf("database dsn %d: %w", i+1, err)
		}
		c, err := mysqldrv.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("database dsn %d: %w", i+1, err)
		}
		f.nodes = append(f.nodes, c)
	}
	return f, nil
}

// Connect dials the current node, then the others in order.
func (f *failover) Connect(ctx context.Context) (driver.Conn, error) {
	start := int(f.cur.Load())
	var errs []error
	for i := range f.nodes {
		k := (start + i) % len(f.nodes)
		c, err := f.nodes[k].Connect(ctx)
		if err == nil && f.galera {
			if err = ready(ctx, c); err != nil {
				c.Close()
			}
		}
		if err == nil {
			if k != start && f.cur.CompareAndSwap(int32(start), int32(k)) {
				f.log.Warn("database: node unreachable or not ready, moved to another", "from", start+1, "to", k+1, "err", errors.Join(errs...))
			}
			return c, nil
		}
		errs = append(errs, fmt.Errorf("node %d: %w", k+1, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// Driver returns the MySQL driver.
func (f *failover) Driver() driver.Driver { return f.nodes[0].Driver() }

// ready checks a Galera node accepts queries (wsrep_ready).
func ready(ctx context.Context, c driver.Conn) error {
	q, ok := c.(driver.QueryerContext)
	if !ok {
		return nil
	}
	rows, err := q.QueryContext(ctx, "SHOW STATUS LIKE 'wsrep_ready'", nil)
	if err != nil {
		return err
	}
	defer rows.Close()
	v := make([]driver.Value, 2)
	if err := rows.Next(v); err != nil && err != io.EOF {
		return err
	}
	if s := fmt.Sprintf("%s", v[1]); s != "ON" {
		return fmt.Errorf("galera node not ready (wsrep_ready %q)", s)
	}
	return nil
}

// openFailover opens a pool over f (the pool GORM uses, and the breaker's
// probe: both must follow the cluster, not one node).
func openFailover(f *failover) *sql.DB { return sql.OpenDB(f) }
