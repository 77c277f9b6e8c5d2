/* pgbatchd's version, one place. */
#ifndef PGBATCHD_COMMON_VERSION_H
#define PGBATCHD_COMMON_VERSION_H

#define PGBATCHD_VERSION "0.1.0"

#endif
