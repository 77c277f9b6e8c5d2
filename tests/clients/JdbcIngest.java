// JdbcIngest: an ingest job's connection as pgjdbc makes it -- its connect-time SETs, prepared INSERTs run one by one and in a batch, the statement's parameter metadata -- printing what the driver reported, then holding the connection open until stdin has a line.
//
// Usage: java -cp .:postgresql.jar JdbcIngest JDBC_URL USER PASSWORD FIRST
// Table bx_t (id int PRIMARY KEY, n bigint, s varchar(20), ts timestamptz, f float8, b boolean, x numeric);
// rows are id = FIRST .. FIRST + 9, values derived from the id, so a direct run
// and one through pgbatchd write the same table. "READY" is printed once every
// row is acknowledged, while the connection is still open.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ParameterMetaData;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;

public final class JdbcIngest {
	private static final String SQL = "INSERT INTO bx_t (id, n, s, ts, f, b, x) VALUES (?, ?, ?, ?, ?, ?, ?)";

	private static void bind(PreparedStatement ps, int id) throws SQLException {
		ps.setInt(1, id);
		ps.setLong(2, id * 1000000007L);
		if (id % 4 == 3)
			ps.setNull(3, Types.VARCHAR);
		else
			ps.setString(3, "row " + id);
		ps.setTimestamp(4, new Timestamp(1767225600000L + id * 3600000L));
		ps.setDouble(5, id / 3.0);
		ps.setBoolean(6, id % 2 == 0);
		ps.setBigDecimal(7, new BigDecimal(id).movePointLeft(2));
	}

	public static void main(String[] args) throws Exception {
		int first = Integer.parseInt(args[3]);

		try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
			try (PreparedStatement ps = c.prepareStatement(SQL)) {
				for (int id = first; id < first + 3; id++) {
					bind(ps, id);
					System.out.println("update " + id + ": " + ps.executeUpdate());
				}
				for (int id = first + 3; id < first + 10; id++) {
					bind(ps, id);
					ps.addBatch();
				}
				int[] counts = ps.executeBatch();
				StringBuilder b = new StringBuilder("batch:");
				for (int n : counts)
					b.append(' ').append(n);
				System.out.println(b);
				ParameterMetaData md = ps.getParameterMetaData();
				StringBuilder t = new StringBuilder("parameters:");
				for (int i = 1; i <= md.getParameterCount(); i++)
					t.append(' ').append(md.getParameterTypeName(i));
				System.out.println(t);
			}
			System.out.println("READY");
			System.out.flush();
			new BufferedReader(new InputStreamReader(System.in)).readLine();
		}
	}
}
