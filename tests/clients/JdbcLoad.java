// JdbcLoad: writes rows with pgjdbc the ways JDBC jobs do (executeUpdate, executeBatch, reWriteBatchedInserts, transactions) and prints what the driver reported.
//
// Usage: java -cp .:postgresql.jar JdbcLoad JDBC_URL MODE ROWS [TABLE [FIRST]]
// MODE: update | batch | rewrite | txcommit | txrollback | batchdup | txbatch | txrewrite
// (txbatch, txrewrite: autoCommit off, one executeBatch, commit; they print its time too)
// TABLE (default jt): (id int PRIMARY KEY, n bigint, s text, f float8, ts timestamptz, b boolean, d numeric)
// Rows are id = FIRST .. FIRST + ROWS - 1 with values derived from the id, so a
// run through pgbatchd and a direct run write the same table.

import java.math.BigDecimal;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.util.Properties;

public final class JdbcLoad {
	private static void bind(PreparedStatement ps, int id) throws SQLException {
		ps.setInt(1, id);
		ps.setLong(2, (long) id * 1000003L);
		ps.setString(3, "row " + id + (id % 7 == 0 ? " tab\there 'q' \\ é" : ""));
		ps.setDouble(4, id / 8.0);
		ps.setTimestamp(5, new Timestamp(1700000000000L + id * 1000L));
		ps.setBoolean(6, id % 2 == 0);
		ps.setBigDecimal(7, new BigDecimal(id).movePointLeft(2));
	}

	public static void main(String[] args) throws Exception {
		String url = args[0], mode = args[1];
		int rows = Integer.parseInt(args[2]);
		String table = args.length > 3 ? args[3] : "jt";
		int first = args.length > 4 ? Integer.parseInt(args[4]) : 1;
		Properties p = new Properties();
		p.setProperty("user", "postgres");
		if (mode.equals("rewrite") || mode.equals("txrewrite"))
			p.setProperty("reWriteBatchedInserts", "true");
		String sql = "INSERT INTO " + table + " (id, n, s, f, ts, b, d) VALUES (?, ?, ?, ?, ?, ?, ?)";
		try (Connection c = DriverManager.getConnection(url, p)) {
			switch (mode) {
			case "update": {
				int sum = 0;
				try (PreparedStatement ps = c.prepareStatement(sql)) {
					for (int i = 0; i < rows; i++) {
						bind(ps, first + i);
						sum += ps.executeUpdate();
					}
				}
				System.out.println("updated " + sum);
				break;
			}
			case "batch":
			case "rewrite":
			case "txbatch":
			case "txrewrite": {
				boolean tx = mode.startsWith("tx");
				long t0 = System.nanoTime();
				if (tx)
					c.setAutoCommit(false);
				int sum = 0, n = 0;
				try (PreparedStatement ps = c.prepareStatement(sql)) {
					for (int i = 0; i < rows; i++) {
						bind(ps, first + i);
						ps.addBatch();
					}
					for (int r : ps.executeBatch()) {
						sum += r;
						n++;
					}
				}
				if (tx)
					c.commit();
				// reWriteBatchedInserts reports SUCCESS_NO_INFO (-2) per row
				System.out.println("batch " + n + " entries, sum " + sum);
				if (tx)
					System.err.println("ms " + (System.nanoTime() - t0) / 1000000);
				break;
			}
			case "txcommit":
			case "txrollback": {
				c.setAutoCommit(false);
				int sum = 0;
				try (PreparedStatement ps = c.prepareStatement(sql)) {
					for (int i = 0; i < rows; i++) {
						bind(ps, first + i);
						sum += ps.executeUpdate();
					}
				}
				if (mode.equals("txcommit"))
					c.commit();
				else
					c.rollback();
				System.out.println(mode + " " + sum);
				break;
			}
			case "batchdup": {
				try (PreparedStatement ps = c.prepareStatement(sql)) {
					for (int i = 0; i < rows; i++) {
						bind(ps, first + (i == rows / 2 ? 0 : i));
						ps.addBatch();
					}
					ps.executeBatch();
					System.out.println("no error");
				} catch (BatchUpdateException e) {
					SQLException next = e.getNextException();
					System.out.println("BatchUpdateException " + e.getSQLState() + " next "
							   + (next == null ? "none" : next.getSQLState()));
				}
				break;
			}
			default:
				throw new IllegalArgumentException("unknown mode " + mode);
			}
		}
	}
}
