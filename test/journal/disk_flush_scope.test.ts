// Which directories share one disk flush (journal/disk_flush_scope.ts): the group commit writes out
// every group but one and trusts the last one's fdatasync to flush the disk for all, so a wrong
// "yes" here would acknowledge orders a power loss can take. Each case below is a mount this code
// must refuse or accept.

import { expect, test } from "bun:test";
import * as fs from "node:fs";
import {
  device_major, device_minor, flush_disk_in, flush_disk_of,
} from "../../journal/disk_flush_scope.ts";
import { NodeFileLayer } from "../../journal/file_layer.ts";

const MOUNTINFO = [
  "22 27 0:21 / /proc rw,relatime - proc proc rw",
  "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict",
  "28 27 254:16 / /data rw,noatime shared:7 master:1 - ext4 /dev/vdb rw,data=ordered",
  "29 27 254:32 / /journaled rw - ext4 /dev/vdc rw,data=journal",
  "30 27 0:45 / /btrfs rw shared:9 - btrfs /dev/vdd rw,space_cache=v2",
  "31 27 259:1 / /xfs rw - xfs /dev/nvme0n1p1 rw,attr2,inode64",
  "32 27 0:60 / /tmp rw - tmpfs tmpfs rw,size=1024k",
  "33 27 0:61 / /merged rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w",
  "34 27 8:1 / /old rw - ext3 /dev/sda1 rw,data=ordered",
  "",
].join("\n");

test("ext4 and ext3, which overwrite in place, share a flush per device; the optional fields vary", () => {
  expect(flush_disk_in(MOUNTINFO, 254, 0)).toBe("ext4:254:0");
  expect(flush_disk_in(MOUNTINFO, 254, 16)).toBe("ext4:254:16"); // two optional fields
  expect(flush_disk_in(MOUNTINFO, 8, 1)).toBe("ext3:8:1");
  // Two devices are two disks: one's flush says nothing of the other's cache.
  expect(flush_disk_in(MOUNTINFO, 254, 0)).not.toBe(flush_disk_in(MOUNTINFO, 254, 16));
});

test("every other file system, and ext4 journaling its data, has each file sync alone", () => {
  expect(flush_disk_in(MOUNTINFO, 254, 32)).toBeNull(); // data=journal
  expect(flush_disk_in(MOUNTINFO, 0, 45)).toBeNull(); // btrfs: copy on write
  expect(flush_disk_in(MOUNTINFO, 259, 1)).toBeNull(); // xfs: reflinked extents are copied on write
  expect(flush_disk_in(MOUNTINFO, 0, 60)).toBeNull(); // tmpfs
  expect(flush_disk_in(MOUNTINFO, 0, 61)).toBeNull(); // overlay
  expect(flush_disk_in(MOUNTINFO, 0, 21)).toBeNull(); // proc
  expect(flush_disk_in(MOUNTINFO, 7, 7)).toBeNull(); // not mounted
  expect(flush_disk_in("27 1 254:0 / / rw,relatime", 254, 0)).toBeNull(); // no separator
});

test("dev_t splits into major and minor as glibc's gnu_dev_major/minor do (values from Python's os)", () => {
  const cases: [number, number, number][] = [
    [65024, 254, 0], [66307, 259, 3], [4294967295, 4095, 1048575],
    [17592187092992, 4096, 256], [527796932853937, 123456, 7654321],
  ];
  for (const [dev, major, minor] of cases) {
    expect(device_major(dev)).toBe(major);
    expect(device_minor(dev)).toBe(minor);
  }
});

test("on this machine: /proc shares no flush, and the file layer asks the same question", () => {
  expect(process.platform).toBe("linux");
  expect(flush_disk_of("/proc")).toBeNull();
  const dir = fs.mkdtempSync("/tmp/flush-scope-");
  try {
    expect(new NodeFileLayer().flush_disk(dir)).toBe(flush_disk_of(dir));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
