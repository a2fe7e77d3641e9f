//! `netc report` reads the run directories of `bench/torch_train.py` (torch_run.json,
//! metrics.jsonl in netc's fields, test.json) and shows them in the seed's table, with the
//! framework, data, device, date and command.

use crate::common::{netc, stderr, stdout};

#[test]
fn report_tabulates_a_pytorch_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("torch_resnet");
    std::fs::create_dir(&run).expect("run dir");
    // What bench/torch_train.py writes (its field names; the values of a 2-epoch smoke run).
    std::fs::write(
        run.join("torch_run.json"),
        r#"{"framework": "PyTorch 2.15.0", "model": "ResNet", "file": "models/resnet.net",
            "params": 272378, "device": "NVIDIA H100 80GB HBM3", "date": "2026-12-07",
            "command": "python3 bench/torch_train.py models/resnet.net --out runs/torch_resnet",
            "data": "/work/shared/data/cifar10/train", "images": 512, "limit": 512, "recipe": {}}"#,
    )
    .expect("written");
    std::fs::write(
        run.join("metrics.jsonl"),
        "{\"epoch\": 1, \"train_loss\": 2.37, \"train_acc\": 0.117, \"val_acc\": 0.1, \"lr\": 0.1, \"seconds\": 16.0, \"images_per_s\": 23.9, \"skipped_steps\": 0}\n\
         {\"epoch\": 2, \"train_loss\": 2.28, \"train_acc\": 0.182, \"val_acc\": 0.13, \"lr\": 0.1, \"seconds\": 5.5, \"images_per_s\": 69.1, \"skipped_steps\": 0}\n",
    )
    .expect("written");
    std::fs::write(
        run.join("test.json"),
        r#"{"accuracy": 0.125, "images": 100, "data": "the run's validation split of /work/shared/data/cifar10/train"}"#,
    )
    .expect("written");
    let out = dir.path().join("report");
    let o = netc(
        dir.path(),
        &[
            "report",
            run.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--markdown",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let md = stdout(&o);
    assert!(md.starts_with("| Model | Val Accuracy | Test Accuracy | Parameters | Epochs | Framework | Data | Device | Date |"), "{md}");
    assert!(
        md.contains("| ResNet | 13.00% | 12.50% | 272,378 | 2 | PyTorch 2.15.0 | /work/shared/data/cifar10/train (--limit 512) | NVIDIA H100 80GB HBM3 | 2026-12-07 |"),
        "{md}"
    );
    assert!(md.contains("- ResNet (PyTorch 2.15.0): `python3 bench/torch_train.py models/resnet.net --out runs/torch_resnet`"), "{md}");
    assert_eq!(
        std::fs::read_to_string(out.join("report.md")).expect("report.md"),
        md
    );
    assert!(out.join("curves.svg").exists() && out.join("curves.png").exists());
}
