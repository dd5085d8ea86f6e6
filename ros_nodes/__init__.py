"""ROS 2 nodes: thin rclpy adapters over `deploy` and `envs`. The only place rclpy is imported."""
