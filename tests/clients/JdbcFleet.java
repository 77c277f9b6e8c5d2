// JdbcFleet: many pgjdbc connections at once, each an ingest job: three executeUpdate and one executeBatch of seven rows through a prepared INSERT, all connections held open until stdin has a line.
//
// Usage: java -cp .:postgresql.jar JdbcFleet JDBC_URL USER PASSWORD CONNECTIONS
// Table fleet (client int, n int): connection c writes (c, 0) .. (c, 9).
// Prints "READY <rows acknowledged>" once every connection has written its
// rows (they are all still open then), or "FAILED <message>" for the first error.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

public final class JdbcFleet {
	public static void main(String[] args) throws Exception {
		final int n = Integer.parseInt(args[3]);
		final CountDownLatch written = new CountDownLatch(n);
		final CountDownLatch release = new CountDownLatch(1);
		final AtomicInteger rows = new AtomicInteger();
		final AtomicReference<String> failure = new AtomicReference<>();
		Thread[] threads = new Thread[n];

		for (int i = 0; i < n; i++) {
			final int client = i;
			threads[i] = new Thread(() -> {
				try (Connection c = DriverManager.getConnection(args[0], args[1], args[2]);
				     PreparedStatement ps = c.prepareStatement("INSERT INTO fleet (client, n) VALUES (?, ?)")) {
					for (int k = 0; k < 3; k++) {
						ps.setInt(1, client);
						ps.setInt(2, k);
						rows.addAndGet(ps.executeUpdate());
					}
					for (int k = 3; k < 10; k++) {
						ps.setInt(1, client);
						ps.setInt(2, k);
						ps.addBatch();
					}
					for (int r : ps.executeBatch())
						rows.addAndGet(r);
					written.countDown();
					release.await();
				} catch (Exception e) {
					failure.compareAndSet(null, e.toString());
					written.countDown();
				}
			}, "client-" + i);
			threads[i].start();
		}
		written.await();
		System.out.println(failure.get() != null ? "FAILED " + failure.get() : "READY " + rows.get());
		System.out.flush();
		new BufferedReader(new InputStreamReader(System.in)).readLine();
		release.countDown();
		for (Thread t : threads)
			t.join();
	}
}
